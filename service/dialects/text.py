"""Value conversions more than one dialect needs."""

from __future__ import annotations

from typing import Any

import orjson


def error_text(error: Any) -> str | None:
    """An error as one string: the dialects' clients read errors as plain text."""
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return orjson.dumps(error).decode()
