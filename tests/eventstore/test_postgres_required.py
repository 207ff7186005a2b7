"""CI cannot pass by skipping PostgreSQL: `.ci/run` makes a missing server a failure, and the
switch it uses never reaches runstream (which refuses unknown RUNSTREAM_ variables)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from service.settings import load_settings
from tests.support.postgres import REQUIRE_VARIABLE

CI_RUN = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_ci_makes_a_missing_postgresql_a_failure() -> None:
    exports = [shlex.split(line)[1] for line in CI_RUN.read_text().splitlines()
               if line.startswith("export ")]
    assert f"{REQUIRE_VARIABLE}=1" in exports


def test_the_switch_is_out_of_the_environment_runstream_reads(tmp_path: Path) -> None:
    assert REQUIRE_VARIABLE not in os.environ
    settings = load_settings(overrides={"data_dir": tmp_path}, environ=dict(os.environ))
    assert settings.data_dir == tmp_path
