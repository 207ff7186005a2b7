"""`runstream secrets set|list|delete`: a workspace's secrets in a data directory.

`set` reads the value from standard input (one trailing newline dropped), never from the
command line, where it would stay in the shell's history and in the process list.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson
from cryptography.fernet import Fernet

from eventstore.interface import EventStore
from service.commands import add_data_options, run_on_store, settings_from
from service.secrets.key import secrets_key
from service.secrets.repository import BadSecret, WorkspaceSecrets


def _repository(args: argparse.Namespace, store: EventStore) -> WorkspaceSecrets:
    return WorkspaceSecrets(store, Fernet(secrets_key(settings_from(args)).encode()))


def cmd_secrets_set(args: argparse.Namespace) -> int:
    value = sys.stdin.read()
    value = value[:-1] if value.endswith("\n") else value

    async def put(store: EventStore) -> dict[str, Any]:
        repo = _repository(args, store)
        await repo.ensure_schema()
        info, created = await repo.put(args.workspace, args.name, value)
        return {**info.as_dict(), "created": created}

    try:
        result = run_on_store(args, put)
    except BadSecret as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result).decode())
    return 0


def cmd_secrets_list(args: argparse.Namespace) -> int:
    async def names(store: EventStore) -> list[dict[str, str]]:
        repo = _repository(args, store)
        await repo.ensure_schema()
        return [info.as_dict() for info in await repo.list(args.workspace)]

    print(orjson.dumps(run_on_store(args, names, existing=True)).decode())
    return 0


def cmd_secrets_delete(args: argparse.Namespace) -> int:
    async def delete(store: EventStore) -> bool:
        repo = _repository(args, store)
        await repo.ensure_schema()
        return await repo.delete(args.workspace, args.name)

    if not run_on_store(args, delete, existing=True):
        print(f"runstream: no secret named {args.name!r} in {args.workspace}", file=sys.stderr)
        return 1
    print(orjson.dumps({"name": args.name, "deleted": True}).decode())
    return 0


def add_commands(sub: Any) -> None:
    secrets = sub.add_parser("secrets", help="manage workspace secrets ({{secrets.NAME}})")
    actions = secrets.add_subparsers(dest="secrets_command", required=True)
    for name, func, help_text in (
        ("set", cmd_secrets_set, "store a secret; the value is read from standard input"),
        ("list", cmd_secrets_list, "list names and update times (never values)"),
        ("delete", cmd_secrets_delete, "delete a secret"),
    ):
        action = actions.add_parser(name, help=help_text)
        if name != "list":
            action.add_argument("name")
        action.add_argument("--workspace", default="default",
                            help="workspace id (default: default)")
        add_data_options(action)
        action.set_defaults(func=func)
