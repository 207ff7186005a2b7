"""One parser of ids (service/ids.py): a path id and a body id accept and refuse the same forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from tests.support.api import QUICK_WORKFLOW, create_workflow

# Spellings of a UUID that `uuid.UUID` would take but that are not an id here.
REFUSED: dict[str, Callable[[str], str]] = {
    "braces": lambda u: "{" + u + "}",
    "urn": lambda u: "urn:uuid:" + u,
    "bare hex": lambda u: u.replace("-", ""),
    "leading space": lambda u: " " + u,
    "trailing newline": lambda u: u + "\n",
    "one digit short": lambda u: u[:-1],
    "not hex": lambda u: "z" + u[1:],
}
ACCEPTED: dict[str, Callable[[str], str]] = {
    "lower case": str.lower,
    "upper case": str.upper,
}


async def _path_workflow(client: TestClient, raw: str) -> tuple[int, dict[str, Any]]:
    resp = await client.get(f"/api/v1/workflows/{quote(raw, safe='')}")
    return resp.status, await resp.json()


async def _body_execute(client: TestClient, raw: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/v1/workflow-runs/execute",
                             json={"workflowId": raw, "inputs": {"n": 1}})
    return resp.status, await resp.json()


async def _query_runs(client: TestClient, raw: str) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/api/v1/workflow-runs", params={"workflowId": raw})
    return resp.status, await resp.json()


PLACES = {"path": _path_workflow, "body": _body_execute, "query": _query_runs}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("form", REFUSED)
async def test_a_spelling_that_is_not_a_hyphenated_uuid_is_400(
    admin: TestClient, place: str, form: str
) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    status, body = await PLACES[place](admin, REFUSED[form](workflow_id))
    if place == "path" and form == "braces":
        # aiohttp's path segments cannot hold braces: no route matches, before any parser.
        assert (status, body["error"]["code"]) == (404, "not_found"), body
    else:
        assert status == 400, body
        assert body["error"]["code"] == "bad_request"
        assert "must be a UUID" in body["error"]["message"]
    runs = await (await admin.get("/api/v1/workflow-runs")).json()
    assert runs["pagination"]["total"] == 0  # nothing was started


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("form", ACCEPTED)
async def test_a_hyphenated_uuid_in_either_case_names_the_same_object(
    admin: TestClient, place: str, form: str
) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    status, body = await PLACES[place](admin, ACCEPTED[form](workflow_id))
    assert status == 200, body
    data = body["data"]
    if place == "path":
        assert data["id"] == workflow_id
    elif place == "body":
        assert data["workflowId"] == workflow_id  # stored in its one spelling
    else:
        assert isinstance(data, list)


@pytest.mark.parametrize("form", REFUSED)
async def test_identity_paths_refuse_the_same_spellings(admin: TestClient, form: str) -> None:
    me = await (await admin.get("/api/v1/auth/me")).json()
    raw = quote(REFUSED[form](me["data"]["id"]), safe="")
    for resp in (await admin.delete(f"/api/v1/tokens/{raw}", json={}),
                 await admin.get(f"/api/v1/workspaces/{raw}/members")):
        body = await resp.json()
        if form == "braces":
            assert resp.status == 404, body  # no route matches a segment with braces
            continue
        assert resp.status == 400, body
        assert "must be a UUID" in body["error"]["message"]


async def test_the_default_workspace_is_the_one_id_that_is_not_a_uuid(admin: TestClient) -> None:
    assert (await admin.get("/api/v1/workspaces/default/members")).status == 200
    resp = await admin.get("/api/v1/workspaces/DEFAULT/members")
    assert resp.status == 400
