"""`runstream webhooks test ID --body FILE`: sign a delivery as the webhook's sender would
and send it to a running server, printing what it answered.

The webhook's settings are read from the data directory's database, and its secret from
the workspace secrets there (opened with the data directory's secrets key), unless
`--secret-value` gives it: so an operator can check a sender's configuration end to end
without writing a signature by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from cryptography.fernet import Fernet

from eventstore.interface import EventStore
from service.commands import add_data_options, run_on_store, settings_from
from service.secrets.key import secrets_key
from service.secrets.repository import WorkspaceSecrets
from service.triggers.idempotency import HEADER as IDEMPOTENCY_HEADER
from service.triggers.webhook_auth import sign
from service.triggers.webhooks import WebhookRepository, hook_path

SEND_TIMEOUT_S = 60.0
RUN_ID_HEADER = "X-Workflow-Run-Id"
# Exit codes: the server accepted (2xx), refused, or the delivery could not be made.
ACCEPTED, REFUSED, NOT_SENT = 0, 1, 2


class CannotSign(Exception):
    """No such webhook, or its secret cannot be read here."""


async def _signing_facts(args: argparse.Namespace, store: EventStore) -> dict[str, Any]:
    settings = settings_from(args)
    webhooks = WebhookRepository(store, settings.webhook_delivery_retention_s)
    await webhooks.ensure_schema()
    webhook = await webhooks.get(args.id)
    if webhook is None:
        raise CannotSign(f"no webhook {args.id!r} in this data directory")
    config = webhook.config
    spec = config.get(webhook.auth) if webhook.auth in ("hmac", "token") else None
    secret = args.secret_value
    if spec is not None and secret is None:
        repo = WorkspaceSecrets(store, Fernet(secrets_key(settings).encode()))
        await repo.ensure_schema()
        secret = (await repo.values(webhook.workspace_id)).get(spec["secret"])
        if secret is None:
            raise CannotSign(f"the workspace secret {spec['secret']!r} is not set here "
                             "(or was sealed with another key); give --secret-value")
    return {"config": config, "secret": secret or "", "base": f"http://{settings.host}:"
            f"{settings.port}", "idempotency_header": webhook.idempotency_header}


def _headers(args: argparse.Namespace, facts: dict[str, Any], body: bytes) -> dict[str, str]:
    headers = {"Content-Type": args.content_type}
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise CannotSign(f"--header takes 'Name: value', not {line!r}")
        headers[name.strip()] = value.strip()
    if args.delivery_id is not None:
        headers[facts["idempotency_header"] or IDEMPOTENCY_HEADER] = args.delivery_id
    # Signed last, over the exact bytes sent: nothing may change the body after this.
    headers.update(sign(facts["config"], facts["secret"], body, time.time()))
    return headers


async def _send(url: str, method: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.request(
            method, url, data=body, headers=headers) as resp:
        # A `stream` webhook's answer ends with its run: read to the end.
        return resp.status, await resp.read(), dict(resp.headers)


def _answer(raw: bytes, content_type: str) -> Any:
    if content_type.startswith("application/json"):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw.decode("utf-8", errors="replace")


def _run_id(answer: Any, headers: dict[str, str]) -> str | None:
    """The run the answer names: its `runId` (a stream names it in a header)."""
    if isinstance(answer, dict):
        for holder in (answer, answer.get("data")):
            if isinstance(holder, dict) and isinstance(holder.get("runId"), str):
                return str(holder["runId"])
    return headers.get(RUN_ID_HEADER)


def cmd_webhooks_test(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if str(args.body) == "-" else Path(args.body).read_bytes()
    except OSError as exc:
        print(f"runstream: cannot read --body: {exc}", file=sys.stderr)
        return NOT_SENT
    try:
        facts = run_on_store(args, lambda store: _signing_facts(args, store), existing=True)
        headers = _headers(args, facts, body)
    except CannotSign as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        return NOT_SENT
    url = (args.url or facts["base"]).rstrip("/") + hook_path(args.id)
    try:
        status, raw, answered = asyncio.run(_send(url, args.method, body, headers))
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"runstream: no answer from {url}: {exc or type(exc).__name__}",
              file=sys.stderr)
        return NOT_SENT
    answer = _answer(raw, answered.get("Content-Type", ""))
    print(orjson.dumps({"url": url, "status": status, "runId": _run_id(answer, answered),
                        "answer": answer}).decode())
    return ACCEPTED if 200 <= status < 300 else REFUSED


def add_commands(sub: Any) -> None:
    webhooks = sub.add_parser("webhooks", help="the workflows' webhooks")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True)
    test = actions.add_parser(
        "test", help="sign a delivery as the webhook's sender would and send it to a "
                     "running server; prints the status and run id (JSON)")
    test.add_argument("id", help="the webhook's id")
    test.add_argument("--body", required=True, type=Path,
                      help="a file holding the body, sent byte for byte ('-': stdin)")
    test.add_argument("--url", help="the server, e.g. http://127.0.0.1:3026 (default: the "
                                    "host and port of the settings)")
    test.add_argument("--secret-value", "--secret", dest="secret_value",
                      help="sign with this value instead of the workspace secret stored in "
                           "the data directory")
    test.add_argument("--method", default="POST", choices=("POST", "PUT"))
    test.add_argument("--content-type", default="application/json")
    test.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                      help="another header to send (repeatable)")
    test.add_argument("--delivery-id", help="sent in the webhook's idempotency header "
                                            "(or Idempotency-Key): a repeat names one run")
    add_data_options(test)
    test.set_defaults(func=cmd_webhooks_test)
