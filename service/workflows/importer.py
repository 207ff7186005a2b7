"""Import workflow JSON files (`runstream workflows import`, and the examples `make run` loads)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from service.workflows.repository import Workflow, WorkflowRepository


async def import_workflow_file(
    repo: WorkflowRepository, path: Path | str, workspace_id: str, created_by: str
) -> Workflow:
    """Create the workflow, or add a version when one of that name exists and differs.

    Importing the same file twice changes nothing, so start-up imports are idempotent.
    Raises WorkflowInvalid (with node ids) for a bad definition, ValueError for bad JSON.
    """
    try:
        definition: Any = orjson.loads(await asyncio.to_thread(Path(path).read_bytes))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    repo.validate(definition)
    existing = await repo.find_by_name(workspace_id, str(definition.get("name", "")).strip())
    if existing is None:
        return await repo.create(workspace_id, definition, created_by)
    if existing.definition == definition:
        return existing
    return await repo.update(existing.id, definition, created_by, workspace_id)


async def import_directory(
    repo: WorkflowRepository, directory: Path | str, workspace_id: str, created_by: str
) -> list[Workflow]:
    """Import every *.json in a directory, in name order (so references resolve by name)."""
    paths = await asyncio.to_thread(lambda: sorted(Path(directory).glob("*.json")))
    return [await import_workflow_file(repo, path, workspace_id, created_by) for path in paths]
