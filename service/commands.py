"""What every `runstream` command that acts on a data directory shares: its two options,
its settings, and the store opened on its database for the length of one action.

service/cli.py and the commands beside their packages (auth/commands.py,
workflows/commands.py) all go through here, so how a command finds its settings and
opens its store is written once (and the subcommands need nothing from service/cli.py).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from eventstore.interface import EventStore
from service.settings import Settings, load_settings
from service.store import open_event_store

T = TypeVar("T")

# Command-line options that override a setting of the same name.
SETTING_OPTIONS = ("host", "port", "data_dir")


class MissingDatabase(Exception):
    """An offline command was pointed at a data directory that holds no database."""


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="directory holding runstream.db")
    parser.add_argument("--config", type=Path, help="a TOML file over config/default.toml")


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of a command: config/default.toml, `--config`, RUNSTREAM_* variables,
    then the options given on its command line."""
    overrides = {name: value for name in SETTING_OPTIONS
                 if (value := getattr(args, name, None)) is not None}
    return load_settings(getattr(args, "config", None), overrides)


def existing_database(settings: Settings) -> Path:
    """The database an offline command reads; never created by a typo in --data-dir."""
    path = settings.database_path
    if not path.is_file():
        raise MissingDatabase(f"no database at {path} (check --data-dir)")
    return path


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[EventStore]:
    """The store on the settings' database, with every projection, closed afterwards."""
    store = await open_event_store(settings)
    try:
        yield store
    finally:
        await store.close()


def run_on_store(
    args: argparse.Namespace,
    action: Callable[[EventStore], Awaitable[T]],
    *,
    existing: bool = False,
) -> T:
    """Run `action` on the store the settings name (the data directory's, or
    `database_url`'s) and return its result.

    `existing`: the command only reads, so a missing database is an error (MissingDatabase)
    rather than a new, empty one.
    """
    settings = settings_from(args)
    if existing and not settings.database_url:
        existing_database(settings)

    async def run() -> T:
        async with open_store(settings) as store:
            return await action(store)

    return asyncio.run(run())
