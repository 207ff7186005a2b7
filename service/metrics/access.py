"""Who may read `GET /metrics`: global admins, and a scraper sending the `metrics_token`."""

from __future__ import annotations

import hmac

from aiohttp import web

from service import keys

METRICS_PATH = "/metrics"


def is_scrape_token(request: web.Request) -> bool:
    """Whether the request is a scrape of /metrics with the configured token."""
    token = request.app[keys.SETTINGS].metrics_token
    if not token or request.path != METRICS_PATH:
        return False
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(secret.strip().encode(),
                                                              token.encode())
