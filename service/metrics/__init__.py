"""Prometheus metrics of a running service: `GET /metrics` (service/views/metrics.py)."""
