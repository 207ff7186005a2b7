"""`runstream schedules list`: the schedules in a data directory, with their next fire
times (managing them is the API's: it checks who may)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import orjson

from eventstore.interface import EventStore
from service.commands import add_data_options, run_on_store
from service.triggers.schedules import ScheduleRepository, upcoming

NEXT_FIRE_TIMES = 3


def cmd_schedules_list(args: argparse.Namespace) -> int:
    async def listed(store: EventStore) -> list[dict[str, Any]]:
        repo = ScheduleRepository(store)
        await repo.ensure_schema()
        schedules = await repo.every()
        if args.workflow is not None:
            schedules = [s for s in schedules if s.workflow_id == args.workflow]
        now = datetime.now(UTC)
        return [{"id": s.id, "workflowId": s.workflow_id, "cron": s.cron,
                 "timezone": s.timezone, "enabled": s.enabled, "overlap": s.overlap,
                 "catchUp": s.catch_up, "nextFireTimes": upcoming(s, now, NEXT_FIRE_TIMES)}
                for s in schedules]

    print(orjson.dumps(run_on_store(args, listed, existing=True)).decode())
    return 0


def add_commands(sub: Any) -> None:
    schedules = sub.add_parser("schedules", help="the workflows' cron schedules")
    actions = schedules.add_subparsers(dest="schedules_command", required=True)
    listing = actions.add_parser("list", help="the schedules (JSON), with their next "
                                              "fire times")
    listing.add_argument("--workflow", help="only this workflow's schedules (its id)")
    add_data_options(listing)
    listing.set_defaults(func=cmd_schedules_list)
