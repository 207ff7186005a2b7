"""`runstream users add|passwd` and `runstream tokens create`: identity chores on a data
directory (`users passwd` is also how an admin who lost their password gets back in)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from eventstore.interface import EventStore
from service.auth.passwords import generate_password, password_problem
from service.auth.repository import AuthRepository, UsernameTaken
from service.auth.validation import USERNAME_RE
from service.commands import add_data_options, run_on_store
from service.limits import MAX_NAME


class CommandError(Exception):
    """A refusal to report on stderr with exit status 1."""


def _run(args: argparse.Namespace, action: Callable[[AuthRepository], Awaitable[dict[str, Any]]]) -> int:
    async def on_repository(store: EventStore) -> dict[str, Any]:
        repo = AuthRepository(store)
        await repo.ensure_schema()
        return await action(repo)

    try:
        result = run_on_store(args, on_repository)
    except CommandError as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result).decode())
    return 0


def _password_of(args: argparse.Namespace) -> str | None:
    """`--password`, or a generated one; None (after saying why) if it is not acceptable."""
    if args.password is None:
        return generate_password()
    if problem := password_problem(args.password):
        print(f"runstream: {problem}", file=sys.stderr)
        return None
    password: str = args.password
    return password


def cmd_users_add(args: argparse.Namespace) -> int:
    """Create a user; prints the generated password once when none was given."""
    if not USERNAME_RE.match(args.username):
        print("runstream: username must be 1-64 letters, digits, '.', '_' or '-'", file=sys.stderr)
        return 2
    password = _password_of(args)
    if password is None:
        return 2

    async def add(repo: AuthRepository) -> dict[str, Any]:
        try:
            user = await repo.create_user(args.username, password, args.admin)
        except UsernameTaken:
            raise CommandError(f"username {args.username!r} is taken") from None
        result: dict[str, Any] = {"id": user.id, "username": user.username,
                                  "isAdmin": user.is_admin}
        if args.password is None:
            result["password"] = password
        return result

    return _run(args, add)


def cmd_users_passwd(args: argparse.Namespace) -> int:
    """Set a user's password and end their login sessions; prints a generated one once."""
    password = _password_of(args)
    if password is None:
        return 2

    async def passwd(repo: AuthRepository) -> dict[str, Any]:
        user = await repo.find_user(args.username)
        if user is None:
            raise CommandError(f"no user named {args.username!r}")
        ended = await repo.set_password(user.id, password)
        result: dict[str, Any] = {"id": user.id, "username": user.username,
                                  "sessionsEnded": ended}
        if args.password is None:
            result["password"] = password
        return result

    return _run(args, passwd)


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """Create an API token for a user and print it; it cannot be shown again."""

    if len(args.name) > MAX_NAME:
        print(f"runstream: --name must be at most {MAX_NAME} characters", file=sys.stderr)
        return 2

    async def create(repo: AuthRepository) -> dict[str, Any]:
        user = await repo.find_user(args.username)
        if user is None:
            raise CommandError(f"no user named {args.username!r}")
        token, secret = await repo.create_token(user.id, args.name)
        return {"id": token.id, "userId": user.id, "name": token.name, "prefix": token.prefix,
                "token": secret}

    return _run(args, create)


def add_commands(subparsers: Any) -> None:
    """Register `users add`, `users passwd` and `tokens create` on the `runstream` parser."""
    users = subparsers.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create a user (password generated if not given)")
    add.add_argument("username")
    add.add_argument("--password", help="at least 8 characters; default: generated and printed")
    add.add_argument("--admin", action="store_true", help="make the user a global admin")
    add_data_options(add)
    add.set_defaults(func=cmd_users_add)
    passwd = users_sub.add_parser(
        "passwd", help="set a user's password and end their sessions (generated if not given)")
    passwd.add_argument("username")
    passwd.add_argument("--password",
                        help="at least 8 characters; default: generated and printed")
    add_data_options(passwd)
    passwd.set_defaults(func=cmd_users_passwd)

    tokens = subparsers.add_parser("tokens", help="manage API tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    create = tokens_sub.add_parser("create", help="create an API token and print it once")
    create.add_argument("username")
    create.add_argument("--name", default="cli", help="a label to tell tokens apart")
    add_data_options(create)
    create.set_defaults(func=cmd_tokens_create)
