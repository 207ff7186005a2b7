"""Checking a delivery's credentials (and making them, for `runstream webhooks test`).

The signature is computed over the exact bytes received, before anything parses them, and
compared with `hmac.compare_digest`, so neither a re-encoded body nor the time a compare
takes tells an attacker anything. Formats:

- `hex` / `base64`: the header holds `prefix` + the digest (GitHub: `X-Hub-Signature-256:
  sha256=<hex>`). With a `timestampHeader`, the signed bytes are `<timestamp>.` + body and
  the timestamp (Unix seconds) must be within `toleranceS` of now.
- `stripe`: the header holds `t=<unix>,v1=<hex>[,v1=<hex>...]`, signed over `<t>.` + body,
  `t` within `toleranceS` (a replay after the window is refused).

`token`: the header holds the token (`Authorization: Bearer <token>` when the header is
Authorization).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AUTHORIZATION = "Authorization"
BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Verdict:
    result: str  # one of webhooks.SIGNATURE_RESULTS
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.result in ("valid", "unsigned")


def _digest(algorithm: str, secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, getattr(hashlib, algorithm)).digest()


def _decode(text: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None


def _fresh(timestamp: str, tolerance_s: float, now: float) -> bool | None:
    """Whether a Unix timestamp is within the window; None when it is not a number."""
    try:
        at = int(timestamp)
    except ValueError:
        return None
    return abs(now - at) <= tolerance_s


def _stripe_parts(value: str) -> tuple[str | None, list[str]]:
    timestamp, signatures = None, []
    for part in value.split(","):
        name, _, item = part.strip().partition("=")
        if name == "t":
            timestamp = item
        elif name == "v1":
            signatures.append(item)
    return timestamp, signatures


def verify_hmac(spec: Mapping[str, Any], secret: str, headers: Mapping[str, str],
                body: bytes, now: float) -> Verdict:
    header = spec["header"]
    sent = headers.get(header)
    if not sent:
        return Verdict("missing", f"no {header} header")
    algorithm = spec["algorithm"]
    tolerance = float(spec["toleranceS"])
    if spec["format"] == "stripe":
        timestamp, signatures = _stripe_parts(sent)
        if timestamp is None or not signatures:
            return Verdict("invalid", f"{header} must be t=<unix>,v1=<hex>")
        fresh = _fresh(timestamp, tolerance, now)
        if fresh is None:
            return Verdict("invalid", "the signature's timestamp is not a number")
        expected = _digest(algorithm, secret, timestamp.encode() + b"." + body)
        # Every v1 is compared (a sender rolling its secret sends two).
        matched = False
        for candidate in signatures:
            decoded = _decode(candidate, "hex")
            matched |= decoded is not None and hmac.compare_digest(expected, decoded)
        if not matched:
            return Verdict("invalid", "the signature does not match the body")
        if not fresh:
            return Verdict("stale", f"the timestamp is more than {tolerance:g} s away")
        return Verdict("valid")
    payload = body
    timestamp_header = spec.get("timestampHeader")
    if timestamp_header:
        timestamp = headers.get(timestamp_header)
        if not timestamp:
            return Verdict("missing", f"no {timestamp_header} header")
        payload = timestamp.encode() + b"." + body
    prefix = spec.get("prefix") or ""
    if not sent.startswith(prefix):
        return Verdict("invalid", f"{header} must start with {prefix!r}")
    decoded = _decode(sent[len(prefix):].strip(), spec["format"])
    expected = _digest(algorithm, secret, payload)
    if decoded is None or not hmac.compare_digest(expected, decoded):
        return Verdict("invalid", "the signature does not match the body")
    if timestamp_header:
        fresh = _fresh(headers[timestamp_header], tolerance, now)
        if not fresh:
            return Verdict("stale", f"the timestamp is not within {tolerance:g} s of now")
    return Verdict("valid")


def verify_token(spec: Mapping[str, Any], secret: str, headers: Mapping[str, str]) -> Verdict:
    header = spec["header"]
    sent = headers.get(header)
    if not sent:
        return Verdict("missing", f"no {header} header")
    if header.lower() == AUTHORIZATION.lower():
        if not sent.lower().startswith(BEARER):
            return Verdict("invalid", "Authorization must be Bearer <token>")
        sent = sent[len(BEARER):].strip()
    if not hmac.compare_digest(sent.encode(), secret.encode()):
        return Verdict("invalid", "wrong token")
    return Verdict("valid")


def credential_headers(config: Mapping[str, Any]) -> set[str]:
    """The headers that carry a webhook's credentials (lower case): kept out of the run's
    trigger data."""
    names = set()
    for kind in ("hmac", "token"):
        spec = config.get(kind) or {}
        if spec.get("header"):
            names.add(str(spec["header"]).lower())
    return names


def sign(config: Mapping[str, Any], secret: str, body: bytes, now: float) -> dict[str, str]:
    """The headers that make `body` a delivery `config` accepts (the sender's side)."""
    if config["auth"] == "token":
        spec = config["token"]
        value = f"Bearer {secret}" if spec["header"].lower() == AUTHORIZATION.lower() else secret
        return {spec["header"]: value}
    if config["auth"] != "hmac":
        return {}
    spec = config["hmac"]
    timestamp = str(int(now))
    if spec["format"] == "stripe":
        digest = _digest(spec["algorithm"], secret, timestamp.encode() + b"." + body)
        return {spec["header"]: f"t={timestamp},v1={digest.hex()}"}
    headers = {}
    payload = body
    if spec.get("timestampHeader"):
        headers[spec["timestampHeader"]] = timestamp
        payload = timestamp.encode() + b"." + body
    digest = _digest(spec["algorithm"], secret, payload)
    encoded = digest.hex() if spec["format"] == "hex" else base64.b64encode(digest).decode()
    headers[spec["header"]] = (spec.get("prefix") or "") + encoded
    return headers
