"""`runstream secrets set|list|delete` on a data directory: the value from stdin, never shown."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.support.cli import run

SECRET = "sk-live-4242-never-to-be-seen"


@pytest.fixture(autouse=True)
def no_runstream_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads RUNSTREAM_* like `serve` does; keep the caller's environment out."""
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)


def raw_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_secrets_are_set_from_stdin_listed_by_name_and_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = ("--data-dir", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    code, out, _ = run(capsys, "secrets", "set", "LLM_KEY", *data)
    assert code == 0
    assert out["name"] == "LLM_KEY"
    assert out["created"] is True
    code, out, _ = run(capsys, "secrets", "list", *data)
    assert code == 0
    assert [s["name"] for s in out] == ["LLM_KEY"]
    assert SECRET not in str(out)
    assert SECRET.encode() not in raw_files(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET))
    code, _, err = run(capsys, "secrets", "set", "bad-name", *data)
    assert code == 1
    assert "bad-name" in err
    code, out, _ = run(capsys, "secrets", "delete", "LLM_KEY", *data)
    assert code == 0
    assert out == {"name": "LLM_KEY", "deleted": True}
    code, _, err = run(capsys, "secrets", "delete", "LLM_KEY", *data)
    assert code == 1
    assert "LLM_KEY" in err
    assert run(capsys, "secrets", "list", *data)[1] == []
