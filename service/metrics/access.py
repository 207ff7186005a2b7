"""Who may read `GET /metrics`: global admins, and a scraper sending the `metrics_token`."""

from __future__ import annotations

import hmac

from aiohttp import web

from service import keys

METRICS_PATH = "/metrics"


def scrape_token_sent(request: web.Request, token: str) -> bool:
    """Whether the request's bearer token is `token` (never for an empty one)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(
        secret.strip().encode(), token.encode())


def is_scrape_token(request: web.Request) -> bool:
    """Whether the request is a scrape of /metrics with the configured token."""
    return request.path == METRICS_PATH and scrape_token_sent(
        request, request.app[keys.SETTINGS].metrics_token)
