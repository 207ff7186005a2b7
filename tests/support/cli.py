"""The `runstream` CLI run in this process, its JSON output parsed (the CLI tests and the tests
that change credentials behind a running server's back use it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from service.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Exit code, parsed stdout (None when empty) and stderr of `runstream *argv`."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


async def arun(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """`run` from a test that already has an event loop (the CLI starts its own)."""
    return await asyncio.to_thread(run, capsys, *argv)
