"""Audit: Ed25519-signed checkpoints of the log's head, and the check that the log still
extends one an auditor saved."""
