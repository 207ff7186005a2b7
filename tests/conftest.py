"""Fixtures shared by every test: settings on a real SQLite file in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings, load_settings

ADMIN_PASSWORD = "admin-password-for-tests"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings isolated from the caller's environment and config."""
    values: dict[str, Any] = {
        "data_dir": data_dir, "admin_password": ADMIN_PASSWORD, "synchronous": "NORMAL",
    }
    values.update(overrides)
    return load_settings(overrides=values, environ={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


# One-line figures that tests report (kills survived, inputs tried, ...), printed at the
# end of the run so that `make test` shows them even though output is captured.
SUMMARY_LINES: list[str] = []


def report_summary(line: str) -> None:
    """Record a line for the end-of-run summary."""
    SUMMARY_LINES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY_LINES:
        terminalreporter.section("runstream figures")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
