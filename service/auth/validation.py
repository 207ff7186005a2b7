"""Limits of identity fields, shared by the request models and the CLI."""

from __future__ import annotations

import re

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
USERNAME_RE = re.compile(USERNAME_PATTERN)
MAX_USERNAME = 64
MAX_NAME = 100

