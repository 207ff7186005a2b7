"""A PostgreSQL database of each test's own, named by URL as `database_url` takes it, and an
environment without the caller's RUNSTREAM_ variables (the CLI reads them)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.postgres import database_of_its_own


@pytest.fixture
def own_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)
    with database_of_its_own("runstream_ops") as url:
        yield url
