"""`runstream workflows import FILE...`: load definitions into a workspace of a data directory;
`runstream workflows schema`: the JSON Schema of definitions with every installed node type."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from eventstore.interface import EventStore
from service.commands import add_data_options, run_on_store
from service.workflows.definition import WorkflowInvalid
from service.workflows.importer import import_workflow_file
from service.workflows.repository import WorkflowRepository
from service.workflows.schema import workflow_json_schema

IMPORTED_BY = "cli"


def cmd_workflows_import(args: argparse.Namespace) -> int:
    """Create each workflow, or add a version when one of that name exists and differs."""

    async def import_files(store: EventStore) -> list[dict[str, Any]]:
        repo = WorkflowRepository(store)
        await repo.ensure_schema()
        imported = []
        for path in args.files:
            workflow = await import_workflow_file(repo, path, args.workspace, IMPORTED_BY)
            imported.append({"file": str(path), "id": workflow.id, "name": workflow.name,
                             "version": workflow.version})
        return imported

    try:
        result = run_on_store(args, import_files)
    except (WorkflowInvalid, ValueError, OSError) as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result).decode())
    return 0


def cmd_workflows_schema(args: argparse.Namespace) -> int:
    from service.engine.registry import default_registry

    schema = workflow_json_schema(default_registry())
    sys.stdout.buffer.write(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def add_commands(sub: Any) -> None:
    workflows = sub.add_parser("workflows", help="manage workflow definitions")
    actions = workflows.add_subparsers(dest="workflows_command", required=True)
    importer = actions.add_parser("import", help="import workflow JSON files")
    importer.add_argument("files", nargs="+", type=Path)
    importer.add_argument("--workspace", default="default", help="workspace id (default: default)")
    add_data_options(importer)
    importer.set_defaults(func=cmd_workflows_import)
    schema = actions.add_parser(
        "schema", help="print the JSON Schema of workflow definitions (installed node types)")
    schema.set_defaults(func=cmd_workflows_schema)
