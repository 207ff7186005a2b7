"""Make docs/vocabulary.md: the service's words and limits, from the modules that own them.

Statuses and their words in each dialect, event types and their payloads, roles, the
outcomes of cancel and resume, and the fixed limits. tests/projections/test_vocabulary.py fails when
the page and the modules disagree. Run from the repository root:

    .venv/bin/python docs/make_vocabulary.py
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from eventstore.lost_history import LOG_RESTORED, restore_marker
from projections.payloads import NODE_EVENT_TYPES, PAYLOAD_TYPES, NodeFields, payload_keys
from projections.vocabulary import NODE_STATUS_AFTER, RUN_STATUS_AFTER, NodeStatus, RunStatus
from service import limits
from service.auth.roles import ROLE_RIGHTS, Role
from service.dialects import chat, flowtrux, splox, v1
from service.outcomes import CANCEL_OUTCOME_MEANINGS, ResumeOutcome

OUT = Path(__file__).resolve().parent / "vocabulary.md"

RESUME_MEANINGS = {
    ResumeOutcome.RESUMED: "200: the answer is recorded and the node goes on",
    ResumeOutcome.NOT_WAITING: "409: the node is not waiting for an answer",
    ResumeOutcome.NOT_FOUND: "404: no such node in this run",
}


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _code(word: object) -> str:
    return f"`{word}`"


def limit_docs() -> list[tuple[str, int, str]]:
    """(name, value, sentence) of every limit, in the order service/limits.py declares them."""
    body = ast.parse(inspect.getsource(limits)).body
    found = []
    for statement, following in zip(body, body[1:], strict=False):
        if isinstance(statement, ast.Assign) and isinstance(following, ast.Expr) \
                and isinstance(following.value, ast.Constant):
            name = statement.targets[0].id  # type: ignore[attr-defined]
            found.append((name, getattr(limits, name), str(following.value.value)))
    return found


def log_restored_keys() -> list[str]:
    """The keys of the mark a restore leaves, from the function that makes it (a restore's
    own event, written by the store rather than folded by a projection)."""
    mark = restore_marker(restored_head=0, restored_hash="0" * 64, lost_through=0,
                          log_version=0, source="", replaced_hash=None)
    return list(orjson.loads(mark.data))


def render() -> str:
    lines = [
        "# Vocabulary",
        "",
        "The service's words and fixed limits, each declared once in the module named under",
        "its heading. This page is made from those modules by `docs/make_vocabulary.py`;",
        "`tests/projections/test_vocabulary.py` fails when they disagree. The console reads the same",
        "words from `vocabulary.js`, generated from the same modules.",
        "",
        "## Run statuses",
        "",
        "Canonical statuses (`projections/vocabulary.py`) and the word each dialect sends",
        "(`service/dialects/`).",
        "",
    ]
    lines += _table(["status", "v1", "chat (000/001)", "FlowTrux terminal event (002)",
                     "Splox `workflow_request` (003)"], (
        (_code(s), _code(v1.RUN_STATUS_WORDS[s]), _code(chat.RUN_STATUS_WORDS[s]),
         _code(flowtrux.TERMINAL_EVENT_NAMES[s]) if s in flowtrux.TERMINAL_EVENT_NAMES
         else "(none yet)", _code(splox.RUN_STATUS_WORDS[s])) for s in RunStatus))
    lines += ["## Node statuses", "",
              "A failed attempt that will be retried leaves its node `pending`.", ""]
    lines += _table(["status", "v1", "chat step", "FlowTrux execution log", "Splox `node_execution`"], (
        (_code(s), _code(v1.NODE_STATUS_WORDS[s]), _code(chat.STEP_STATUS_WORDS[s]),
         _code(flowtrux.NODE_STATUS_WORDS[s]), _code(splox.NODE_STATUS_WORDS[s]))
        for s in NodeStatus))
    lines += [
        "## Event types",
        "",
        "Every event type of the log, the keys of its payload",
        "(`projections/payloads.py`) and the status it leaves the run or node in. Node",
        "events all start with `nodeId`, `nodeName`, `nodeType` and `attempt`; a",
        "`NodeFailed` with `willRetry` leaves the node `pending` until its next attempt.",
        "`EventsPruned` (stream `retention`) records a prune or an erasure; `LogRestored`",
        "(stream `$log`, `eventstore/lost_history.py`) is the mark a restore leaves.",
        "",
    ]
    rows = []
    for type_, kind in PAYLOAD_TYPES.items():
        own = [k for k in kind.__annotations__
               if type_ not in NODE_EVENT_TYPES or k not in payload_keys(NodeFields)]
        status = RUN_STATUS_AFTER.get(type_) or NODE_STATUS_AFTER.get(type_)
        rows.append((_code(type_), ", ".join(_code(k) for k in own) or "—",
                     _code(status) if status else "—"))
    rows.append((_code(LOG_RESTORED), ", ".join(_code(k) for k in log_restored_keys()), "—"))
    lines += _table(["type", "payload (besides the node fields)", "status after"], rows)
    lines += ["## Roles", "", "Workspace roles (`service/auth/roles.py`), lowest first.", ""]
    lines += _table(["role", "may"], ((_code(r.word), ROLE_RIGHTS[r]) for r in Role))
    lines += ["## Cancel outcomes", "",
              "Per run, in the answer of `POST /api/v1/workflow-runs/cancel`",
              "(`service/outcomes.py`).", ""]
    lines += _table(["outcome", "means"], (
        (_code(o), meaning) for o, meaning in CANCEL_OUTCOME_MEANINGS.items()))
    lines += ["## Resume outcomes", "",
              "What `POST /api/v1/workflow-runs/{runId}/nodes/{nodeId}/resume` comes to.", ""]
    lines += _table(["outcome", "answer"], ((_code(o), RESUME_MEANINGS[o]) for o in ResumeOutcome))
    lines += ["## Limits", "",
              "Fixed limits of what a client may send (`service/limits.py`); the sizes an",
              "operator may change are settings ([operations](operations.md)).", ""]
    lines += _table(["limit", "value", "bounds"], (
        (_code(name), f"{value:,}", sentence) for name, value, sentence in limit_docs()))
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
