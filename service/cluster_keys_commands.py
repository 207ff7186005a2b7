"""`runstream keys show | forget NAME`: the fingerprints of the keys a database's nodes share."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from eventstore.interface import EventStore
from service.cluster_keys import WHERE, ClusterKeys, node_fingerprints
from service.commands import add_data_options, run_on_store, settings_from


def cmd_keys_show(args: argparse.Namespace) -> int:
    here = node_fingerprints(settings_from(args))

    async def show(store: EventStore) -> dict[str, str]:
        cluster_keys = ClusterKeys(store)
        await cluster_keys.ensure_schema()
        return await cluster_keys.recorded()

    recorded = run_on_store(args, show)
    print(orjson.dumps({name: {"here": value, "recorded": recorded.get(name),
                               "matches": recorded.get(name) in (None, value)}
                        for name, value in here.items()}).decode())
    return 0 if all(recorded.get(n) in (None, v) for n, v in here.items()) else 1


def cmd_keys_forget(args: argparse.Namespace) -> int:
    async def forget(store: EventStore) -> bool:
        cluster_keys = ClusterKeys(store)
        await cluster_keys.ensure_schema()
        return await cluster_keys.forget(args.name)

    forgotten = run_on_store(args, forget)
    print(orjson.dumps({"name": args.name, "forgotten": forgotten}).decode())
    return 0


def add_commands(sub: Any) -> None:
    keys_p = sub.add_parser("keys", help="fingerprints of the keys every node must share")
    actions = keys_p.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="this node's fingerprints beside the recorded ones; "
                                           "exit 1 if one differs")
    add_data_options(show)
    show.set_defaults(func=cmd_keys_show)
    forget = actions.add_parser(
        "forget", help="drop a recorded fingerprint after changing that key on every node: "
                       "the next node to start records its own")
    forget.add_argument("name", choices=sorted(WHERE))
    add_data_options(forget)
    forget.set_defaults(func=cmd_keys_forget)
