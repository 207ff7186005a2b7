"""What node types declare their `params` with: a strict model base and template-aware types.

A node's params are checked when its workflow is saved, against the model its type
declares (`NodeType.params_model`), so a typo or a wrong type is refused with the node id
and the field's path instead of failing when a run reaches the node. Any value may also
be a template (`"{{inputs.ms}}"`): a string that is one whole template keeps the JSON
type of what it reads, so a typed field accepts a template in place of its value
(`templated(int)`), and only the rendered value is checked when the node runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

TEMPLATE_MARK = "{{"
TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "string", "pattern": r"\{\{",
    "description": "A template such as {{inputs.x}}, resolved when the node runs.",
}


class ParamsModel(BaseModel):
    """Base of every node type's params: unknown fields and loose types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and TEMPLATE_MARK in value


def templated(value_type: Any) -> Any:
    """`value_type`, or a template string standing for one (checked once rendered)."""
    adapter: TypeAdapter[Any] = TypeAdapter(value_type, config=ConfigDict(strict=True))

    def check(value: Any) -> Any:
        if is_template(value):
            return value
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise PydanticCustomError(
                "templated", "{message}, or a template", {"message": first["msg"]},
            ) from None

    schema = {"anyOf": [adapter.json_schema(), TEMPLATE_SCHEMA]}
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]
