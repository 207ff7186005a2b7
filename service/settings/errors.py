"""One error for every bad setting: it names the key, the value and the layer it came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from service.settings.names import dotted, env_name, moved_hint


@dataclass(frozen=True)
class Problem:
    """One bad setting: `key` is dotted (`engine.http_timeout_ms`), `origin` says where."""

    key: str
    value: Any
    origin: str
    reason: str

    def __str__(self) -> str:
        if not self.key:
            return self.reason
        if self.value is _UNKNOWN:
            return f"unknown setting {self.key!r} {self.origin}{moved_hint(self.key)}"
        return f"setting {self.key} = {self.value!r} {self.origin}: {self.reason}"


_UNKNOWN: Any = object()  # a Problem's value when the key itself is the problem


class SettingsError(ValueError):
    """A config file, variable or override names an unknown key or holds a bad value."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> SettingsError:
        if len(problems) == 1:
            return cls(str(problems[0]), problems)
        lines = "".join(f"\n  - {problem}" for problem in problems)
        return cls(f"{len(problems)} settings are invalid:{lines}", problems)


@dataclass(frozen=True)
class Layer:
    """What one source supplied (nested like the model), to say where a bad value came from."""

    name: str
    data: Mapping[str, Any]
    kind: Literal["file", "env", "given"] = "given"

    def origin(self, key: str) -> str:
        if self.kind == "env":
            return f"(from environment variable {env_name(key)})"
        return f"(in {self.name})" if self.kind == "file" else f"(from {self.name})"

    def lookup(self, path: Sequence[str]) -> tuple[bool, Any]:
        node: Any = self.data
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return False, None
            node = node[part]
        return True, node


def unknown_key(key: str, origin: str) -> Problem:
    return Problem(key, _UNKNOWN, origin, "unknown")


def settings_error(exc: ValidationError, layers: Sequence[Layer]) -> SettingsError:
    """Translate pydantic's errors; `layers` are ordered from the one that wins."""
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        reason = str(error["msg"]).removeprefix("Value error, ")
        if not loc:  # a rule across fields: its message names them
            problems.append(Problem("", None, "", reason))
            continue
        # The value sits at the named keys; item indexes (a list's [0]) only sharpen the key.
        path = [part for part in loc if isinstance(part, str)]
        key = dotted(loc)
        origin, value = "(from the defaults)", error.get("input")
        for layer in layers:
            found, supplied = layer.lookup(path)
            if found:
                origin, value = layer.origin(dotted(path)), supplied
                break
        if error["type"] == "extra_forbidden":
            problems.append(unknown_key(key, origin))
        else:
            problems.append(Problem(key, value, origin, reason))
    return SettingsError.of(problems)
