"""The username rule, shared by the request models and the CLI."""

from __future__ import annotations

import re

from service.limits import MAX_USERNAME

USERNAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_USERNAME - 1}}}$"
USERNAME_RE = re.compile(USERNAME_PATTERN)
