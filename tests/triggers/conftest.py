"""Trigger tests drive schedules with a clock of their own: the app's timer is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings
from tests.support.auth import make_settings


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, schedule_tick_s=0)
