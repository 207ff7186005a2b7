"""How a setting is named: a dotted key in TOML (`engine.http_timeout_ms` is `http_timeout_ms`
in the `[engine]` table) and a RUNSTREAM_ variable in the environment."""

from __future__ import annotations

from collections.abc import Sequence

ENV_PREFIX = "RUNSTREAM_"
# Separates a table from its key: RUNSTREAM_ENGINE__HTTP_TIMEOUT_MS.
ENV_NESTED_DELIMITER = "__"

# Keys that were top-level before the [engine] table existed, and where they live now:
# an old name is refused with a hint naming the new one.
MOVED: dict[str, str] = {
    **{name: f"engine.{name}" for name in (
        "max_concurrent_runs", "default_node_timeout_ms", "http_allow_hosts",
        "http_max_response_bytes", "http_timeout_ms", "secrets_key",
    )},
    # The store's limit, which the engine follows.
    "engine.max_event_bytes": "max_event_bytes",
}


def dotted(path: Sequence[str | int]) -> str:
    """`("engine", "http_allow_hosts", 0)` -> `engine.http_allow_hosts[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def env_name(key: str) -> str:
    """`engine.http_timeout_ms` -> `RUNSTREAM_ENGINE__HTTP_TIMEOUT_MS`."""
    return ENV_PREFIX + key.replace(".", ENV_NESTED_DELIMITER).upper()


def moved_hint(key: str) -> str:
    """Where an old key lives now, in TOML and in the environment ('' when it did not move)."""
    new = MOVED.get(key)
    if new is None:
        return ""
    table, _, name = new.rpartition(".")
    where = f"in the [{table}] table" if table else "at the top level"
    return f"; it is {name!r} {where} ({env_name(new)} in the environment)"
