"""Templates: dotted paths into trigger data, inputs, env and node outputs; never eval."""

from __future__ import annotations

import pytest

from service.workflows.templates import (
    RenderContext,
    TemplateError,
    parse_reference,
    references,
    render,
)

CTX = RenderContext(
    trigger_data={"id": 7, "name": "Ada", "tags": ["a", "b"], "nested": {"ok": True},
                  "nothing": None},
    env={"API": "https://api.example", "TOKEN": "s3cret"},
    node_outputs={"fetch": {"status": 200, "body": {"items": [{"id": 1}, {"id": 2}]}},
                  "flag": False},
)


def test_whole_template_keeps_the_json_type() -> None:
    assert render("{{trigger.data.id}}", CTX) == 7
    assert render("{{inputs.tags}}", CTX) == ["a", "b"]
    assert render("{{ nodes.fetch.output.body }}", CTX) == {"items": [{"id": 1}, {"id": 2}]}
    assert render("{{nodes.flag.output}}", CTX) is False
    assert render("{{trigger.data.nested.ok}}", CTX) is True
    assert render("{{trigger.data.nothing}}", CTX) is None


def test_embedded_templates_are_interpolated_as_text() -> None:
    assert render("{{env.API}}/tickets/{{trigger.data.id}}", CTX) == "https://api.example/tickets/7"
    assert render("tags={{inputs.tags}} ok={{trigger.data.nested.ok}}", CTX) == \
        'tags=["a","b"] ok=true'


def test_list_indexes_and_nested_structures_render() -> None:
    value = {"first": "{{nodes.fetch.output.body.items.0.id}}", "list": ["{{inputs.name}}", 3]}
    assert render(value, CTX) == {"first": 1, "list": ["Ada", 3]}


def test_missing_paths_render_null_whole_and_empty_embedded() -> None:
    assert render("{{trigger.data.absent.deeper}}", CTX) is None
    assert render("{{nodes.unknown.output}}", CTX) is None
    assert render("{{nodes.fetch.output.body.items.9.id}}", CTX) is None
    assert render("x{{inputs.absent}}y", CTX) == "xy"
    assert render("{{env.MISSING}}", CTX) is None


def test_inputs_and_trigger_data_read_the_same_object() -> None:
    assert render("{{inputs.name}}", CTX) == render("{{trigger.data.name}}", CTX) == "Ada"
    assert render("{{inputs}}", CTX) == CTX.trigger_data


def test_text_without_templates_and_non_strings_pass_through() -> None:
    assert render({"a": 1, "b": None, "c": "plain } {"}, CTX) == {"a": 1, "b": None,
                                                                  "c": "plain } {"}


def test_template_looking_output_is_not_rendered_twice() -> None:
    ctx = RenderContext({"evil": "{{env.TOKEN}}"}, CTX.env, {})
    assert render("{{inputs.evil}}", ctx) == "{{env.TOKEN}}"
    assert render("say {{inputs.evil}}", ctx) == "say {{env.TOKEN}}"


@pytest.mark.parametrize("text", [
    "{{}}", "{{ }}", "{{unknown.x}}", "{{trigger.x}}", "{{env}}", "{{env.A.B}}",
    "{{nodes.a}}", "{{nodes.a.result}}", "{{inputs.a b}}", "{{__import__('os')}}",
    "{{inputs.x", "a {{inputs.x}} {{", "{{ {{inputs.x}} }}", "{{inputs..x}}",
])
def test_bad_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        list(references(text))


def test_references_name_their_roots_and_nodes() -> None:
    refs = list(references({"u": "{{env.API}}/{{nodes.fetch.output.body}}", "n": [
        "{{trigger.data.id}}"]}))
    assert [(r.root, r.node_id, r.path) for r in refs] == [
        ("env", None, ("API",)), ("nodes", "fetch", ("body",)), ("trigger", None, ("id",))]
    assert parse_reference(" inputs.a.0 ").path == ("a", "0")
