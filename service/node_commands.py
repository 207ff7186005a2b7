"""`runstream nodes`: the live nodes serving this database (JSON), with their runs."""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson

from eventstore.interface import EventStore
from service.commands import add_data_options, run_on_store, settings_from
from service.node_registry import NodeRegistry


def cmd_nodes(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def listed(store: EventStore) -> list[dict[str, Any]]:
        registry = NodeRegistry(store, settings.node)
        await registry.ensure_schema()
        now = time.time()
        return [{"name": n.name, "pid": n.pid, "upSeconds": round(now - n.started_at),
                 "seenSecondsAgo": round(now - n.seen_at, 1), "runsActive": n.runs_active,
                 "runsQueued": n.runs_queued}
                for n in await registry.live()]

    print(orjson.dumps(run_on_store(args, listed, existing=True)).decode())
    return 0


def add_commands(sub: Any) -> None:
    nodes = sub.add_parser("nodes", help="the live nodes serving this database (JSON), with "
                                         "their runs executing and queued")
    add_data_options(nodes)
    nodes.set_defaults(func=cmd_nodes)
