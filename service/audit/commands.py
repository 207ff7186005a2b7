"""`runstream checkpoint verify FILE`: does the current log extend a saved checkpoint?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from eventstore.interface import EventStore
from service.audit.extends import BadCheckpointFile, Extension, log_extends, read_checkpoint_file
from service.audit.signing import load_signing_key, public_key_text
from service.commands import add_data_options, run_on_store, settings_from


def _refuse(message: str) -> int:
    print(f"runstream: {message}", file=sys.stderr)
    return 2


def cmd_checkpoint_verify(args: argparse.Namespace) -> int:
    try:
        document: Any = orjson.loads(args.file.read_bytes())
        items, saved_key = read_checkpoint_file(document)
    except (OSError, orjson.JSONDecodeError, BadCheckpointFile) as exc:
        return _refuse(f"{args.file}: {exc}")
    # The key an auditor pinned wins; then the one saved with the checkpoints; then the
    # service's own (which proves less: whoever rewrote the log may hold it too).
    public_key = args.public_key or saved_key
    if public_key is None:
        public_key = public_key_text(load_signing_key(settings_from(args)).public_key())

    async def check(store: EventStore) -> Extension:
        return await log_extends(store, items, public_key)

    try:
        result = run_on_store(args, check, existing=True)
    except ValueError as exc:  # a public key that is not one
        return _refuse(str(exc))
    print(orjson.dumps(result.as_dict()).decode())
    return 0 if result.ok else 1


def add_commands(sub: Any) -> None:
    checkpoint = sub.add_parser("checkpoint", help="signed checkpoints of the log's head")
    actions = checkpoint.add_subparsers(dest="action", required=True)
    verify = actions.add_parser(
        "verify", help="prove the log extends a saved checkpoint; exit 1 naming the first "
                       "position where it does not")
    verify.add_argument("file", type=Path, help="a checkpoint, a list of them, or a saved "
                                                "GET /api/v1/audit/checkpoints answer")
    verify.add_argument("--public-key", help="the base64 Ed25519 public key to trust")
    add_data_options(verify)
    verify.set_defaults(func=cmd_checkpoint_verify)
