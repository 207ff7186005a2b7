"""`runstream workflows import`: example files into a data directory, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config" / "examples").glob("*.json"))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_creates_then_versions_only_changed_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    code, out, _ = run_cli(capsys, "workflows", "import", *map(str, EXAMPLES), "--data-dir", data)
    assert code == 0
    first = json.loads(out)
    assert [item["version"] for item in first] == [1] * len(EXAMPLES)
    code, out, _ = run_cli(capsys, "workflows", "import", *map(str, EXAMPLES), "--data-dir", data)
    assert [item["version"] for item in json.loads(out)] == [1] * len(EXAMPLES)
    changed = tmp_path / "changed.json"
    definition = json.loads(EXAMPLES[0].read_text())
    definition["nodes"][0]["name"] = "Renamed step"
    changed.write_text(json.dumps(definition))
    code, out, _ = run_cli(capsys, "workflows", "import", str(changed), "--data-dir", data)
    assert code == 0
    (again,) = json.loads(out)
    assert again["id"] == first[0]["id"]
    assert again["version"] == 2


def test_import_refuses_an_invalid_definition_and_names_the_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "Bad", "nodes": [
        {"id": "a", "type": "noop", "after": ["ghost"]}]}))
    code, out, err = run_cli(capsys, "workflows", "import", str(bad),
                             "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert out == ""
    assert "a" in err
    assert "ghost" in err
    code, _, err = run_cli(capsys, "workflows", "import", str(tmp_path / "missing.json"),
                           "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert "missing.json" in err
