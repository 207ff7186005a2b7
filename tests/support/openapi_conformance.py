"""Real answers checked against the generated OpenAPI document, with jsonschema.

`Conformance(document)` finds the operation a request went to (method and concrete path),
the response the document declares for the status (or `default`), and validates the
body against that response's schema for its media type: JSON bodies whole, NDJSON line by
line, and server-sent events frame by frame against the stream's `x-sse-events` models.
Formats (uuid, date-time) are checked too. It records which (operation, status) pairs it
has seen, so a test can say that every declared answer was met for real.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from jsonschema import Draft202012Validator

Schema = dict[str, Any]
PARAMETER = re.compile(r"{[^}]+}")


class Conformance:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._components = document["components"]
        self._validators: dict[str, Draft202012Validator] = {}
        # Literal segments win over parameters, as the router matches them.
        self._templates = sorted(
            document["paths"],
            key=lambda template: (template.count("{"), [part.startswith("{") for part in
                                                        template.split("/")]))
        self._patterns = {t: re.compile("^" + "[^/]+".join(
            re.escape(part) for part in PARAMETER.split(t)) + "$") for t in self._templates}
        self.seen: set[tuple[str, int]] = set()  # (operationId, status)
        self.checked = 0  # answers checked

    # -- looking things up ----------------------------------------------------------

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """(template, operation) for a concrete path (query string ignored)."""
        path = path.split("?", 1)[0]
        for template in self._templates:
            item = self.document["paths"][template]
            if method.lower() in item and self._patterns[template].match(path):
                return template, item[method.lower()]
        return None

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith(
                "#/components/responses/"):
            node = self._components["responses"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def response(self, method: str, path: str, status: int) -> tuple[str, dict[str, Any]]:
        found = self.operation(method, path)
        assert found is not None, f"{method} {path}: no operation in the document"
        _, op = found
        responses = op["responses"]
        declared = responses.get(str(status), responses.get("default"))
        assert declared is not None, f"{op['operationId']}: status {status} not declared"
        return op["operationId"], self._resolve(declared)

    def _validator(self, schema: Schema) -> Draft202012Validator:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
        validator = self._validators.get(key)
        if validator is None:
            # The components beside the schema, so that `#/components/...` resolves.
            root = {**schema, "components": self._components}
            validator = Draft202012Validator(
                root, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._validators[key] = validator
        return validator

    def _problems(self, schema: Schema, value: Any, what: str) -> list[str]:
        errors = sorted(self._validator(schema).iter_errors(value), key=lambda e: list(e.path))
        return [f"{what}: {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}"
                for e in errors[:10]]

    # -- checking answers -------------------------------------------------------------

    def problems(self, method: str, path: str, status: int, content_type: str,
                 body: bytes) -> list[str]:
        """What is wrong with this answer according to the document; [] when nothing."""
        operation_id, declared = self.response(method, path, status)
        what = f"{method} {path} -> {status}"
        self.seen.add((operation_id, status))
        self.checked += 1
        content = declared.get("content", {})
        media = content_type.split(";", 1)[0].strip()
        if not content:
            return [] if not body else [f"{what}: a body where the document declares none"]
        if media not in content:
            return [f"{what}: {media!r} is not one of the declared {sorted(content)}"]
        schema = content[media]["schema"]
        if media == "text/event-stream":
            return []  # frames are checked one by one (frame_problems)
        if "x-line-schema" in schema:
            found = []
            for number, line in enumerate(body.splitlines(), 1):
                found += self._problems(schema["x-line-schema"], orjson.loads(line),
                                        f"{what} line {number}")
            return found
        if "json" in media:
            try:
                value = orjson.loads(body)
            except orjson.JSONDecodeError:
                return [f"{what}: the body is not JSON: {body[:200]!r}"]
            return self._problems(schema, value, what)
        return []

    def check(self, method: str, path: str, status: int, content_type: str,
              body: bytes) -> None:
        problems = self.problems(method, path, status, content_type, body)
        assert not problems, "\n".join(problems)

    def frame_problems(self, method: str, path: str, event: str, data: str) -> list[str]:
        """What is wrong with one server-sent event of a 200 stream; [] when nothing."""
        _, declared = self.response(method, path, 200)
        media = declared["content"]["text/event-stream"]
        events = media["x-sse-events"]
        schema = events.get(event, events.get("<event type>"))
        what = f"{method} {path} event {event!r}"
        if schema is None:
            return [f"{what}: not one of the declared events {sorted(events)}"]
        try:
            value: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = data  # a word (`data: keepalive`), checked as a string
        return self._problems(schema, value, what)

    def check_frame(self, method: str, path: str, event: str, data: str) -> None:
        problems = self.frame_problems(method, path, event, data)
        assert not problems, "\n".join(problems)

    def declared_answers(self) -> set[tuple[str, int]]:
        """Every (operationId, status) of a success answer the document declares."""
        out = set()
        for item in self.document["paths"].values():
            for op in item.values():
                for status in op["responses"]:
                    if status.isdigit() and int(status) < 400:
                        out.add((op["operationId"], int(status)))
        return out
