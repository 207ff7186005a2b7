"""Retention: pruning finished runs' event data (archived first), erasure, and the policy."""
