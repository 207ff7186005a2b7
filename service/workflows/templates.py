"""`{{...}}` templates: dotted-path lookups into a run's data, never `eval`.

Roots: `trigger.data.x`, `inputs.x` (the same object as trigger.data), `env.X`,
`secrets.NAME` (the run's workspace secrets) and `nodes.ID.output.path`; `args.x` is
an agent tool's arguments, left as it is until the tool runs. A string that is exactly one template keeps the
value's JSON type; templates inside a longer string are interpolated as text.
A path that leads nowhere renders as null (whole) or as an empty string (embedded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

# Re-exported: the engine still reads this limit here (service/limits.py declares it).
from service.limits import MAX_VALUE_DEPTH as MAX_VALUE_DEPTH

TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
SEGMENT_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply `value` nests (1 for a flat list or object), counting up to `limit` + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class TemplateError(ValueError):
    """A template that cannot be parsed or names an unknown root."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed template path: `root` is trigger, inputs, env, secrets, nodes or args."""

    root: str
    path: tuple[str, ...]
    node_id: str | None = None


def parse_reference(expression: str) -> Reference:
    """Parse the inside of one `{{ }}` into a Reference, or raise TemplateError."""
    text = expression.strip()
    if not text:
        raise TemplateError("empty template {{}}")
    segments = text.split(".")
    for segment in segments:
        if not SEGMENT_RE.match(segment):
            raise TemplateError(f"bad path segment {segment!r} in {{{{{text}}}}}")
    root, rest = segments[0], tuple(segments[1:])
    if root == "trigger":
        if not rest or rest[0] != "data":
            raise TemplateError(f"{{{{{text}}}}}: only trigger.data is readable")
        return Reference("trigger", rest[1:])
    if root == "inputs":
        return Reference("inputs", rest)
    if root == "env":
        if len(rest) != 1:
            raise TemplateError(f"{{{{{text}}}}}: env takes exactly one name, e.g. env.API_KEY")
        return Reference("env", rest)
    if root == "secrets":
        if len(rest) != 1:
            raise TemplateError(f"{{{{{text}}}}}: secrets takes exactly one name, e.g. "
                                "secrets.LLM_KEY")
        return Reference("secrets", rest)
    if root == "args":
        return Reference("args", rest)
    if root == "nodes":
        if len(rest) < 2 or rest[1] != "output":
            raise TemplateError(f"{{{{{text}}}}}: use nodes.ID.output[.path]")
        return Reference("nodes", rest[2:], node_id=rest[0])
    raise TemplateError(f"{{{{{text}}}}}: unknown root {root!r} "
                        "(trigger, inputs, env, secrets, nodes, args)")


def references(value: Any) -> Iterator[Reference]:
    """Every template reference in a JSON value (raises TemplateError on a bad one)."""
    if isinstance(value, str):
        yield from _string_references(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def _string_references(text: str) -> Iterator[Reference]:
    if "{{" not in text and "}}" not in text:
        return
    end = 0
    for match in TEMPLATE_RE.finditer(text):
        if "{{" in match.group(1):
            raise TemplateError(f"nested or unclosed '{{{{' in {text!r}")
        _check_no_stray(text[end:match.start()], text)
        end = match.end()
        yield parse_reference(match.group(1))
    _check_no_stray(text[end:], text)


def _check_no_stray(fragment: str, text: str) -> None:
    if "{{" in fragment:
        raise TemplateError(f"unclosed '{{{{' in {text!r}")


@dataclass(slots=True)
class RenderContext:
    """What templates can read during one run."""

    trigger_data: Mapping[str, Any]
    env: Mapping[str, str]
    # Anything with `in` and `[]` by node id (the engine passes a view of its run state).
    node_outputs: Any
    # The workspace's secrets, read when the run's driver starts.
    secrets: Mapping[str, str] = field(default_factory=dict)
    # A tool call's arguments; None while a node's params are rendered, so that
    # `{{args.x}}` in an agent's tools survives until the call is made.
    args: Mapping[str, Any] | None = None


_MISSING = object()


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        if isinstance(value, Mapping):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def resolve(ref: Reference, ctx: RenderContext) -> Any:
    """The value a reference names, or None when the path leads nowhere."""
    if ref.root == "args":
        if ctx.args is None:
            return "{{" + ".".join(("args", *ref.path)) + "}}"
        value = _lookup(ctx.args, ref.path)
    elif ref.root in ("trigger", "inputs"):
        value = _lookup(ctx.trigger_data, ref.path)
    elif ref.root == "env":
        value = ctx.env.get(ref.path[0], _MISSING)
    elif ref.root == "secrets":
        value = ctx.secrets.get(ref.path[0], _MISSING)
    else:
        assert ref.node_id is not None
        if ref.node_id not in ctx.node_outputs:
            return None
        value = _lookup(ctx.node_outputs[ref.node_id], ref.path)
    return None if value is _MISSING else value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def render(value: Any, ctx: RenderContext) -> Any:
    """Render every template in a JSON value (dict keys are left as they are)."""
    if isinstance(value, str):
        return _render_string(value, ctx)
    if isinstance(value, Mapping):
        return {key: render(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, ctx) for item in value]
    return value


def _render_string(text: str, ctx: RenderContext) -> Any:
    if "{{" not in text:
        return text
    whole = TEMPLATE_RE.fullmatch(text)
    if whole is not None and "{{" not in whole.group(1):
        return resolve(parse_reference(whole.group(1)), ctx)
    return TEMPLATE_RE.sub(lambda m: _as_text(resolve(parse_reference(m.group(1)), ctx)), text)
