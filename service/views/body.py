"""Request bodies through models: one pydantic model per body validates it (JSON, or
urlencoded / multipart forms where the endpoint takes them), documents it in the OpenAPI
document, and carries its limits. A body that does not fit answers 400 naming every bad
field: `{"error": {"code": "bad_request", "message", "fields": [{"path", "message"}]}}`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

import orjson
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, WithJsonSchema

from service.content_types import FORM_TYPES, is_json_type
from service.errors import ApiError, bad_request
from service.ids import canonical_uuid
from service.limits import MAX_FIELD_ERRORS
from service.views.params import check_depth, form_fields, json_body

ModelT = TypeVar("ModelT", bound=BaseModel)
RequestT = TypeVar("RequestT", bound="RequestModel")
QueryT = TypeVar("QueryT", bound="QueryModel")


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are ignored (clients of the products
    whose formats we serve send their own), values are coerced as forms need."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    # Fields that a form carries as JSON text (objects in a JSON body).
    form_json_fields: ClassVar[tuple[str, ...]] = ()
    # Whether the endpoint takes urlencoded and multipart forms besides JSON.
    accepts_forms: ClassVar[bool] = False
    # Whether the Content-Type must say JSON (or a form, where accepted); otherwise a body
    # is read as JSON whatever it is labelled, as clients of the run endpoints expect.
    requires_json_type: ClassVar[bool] = False


# A UUID in its canonical form, parsed as path ids are.
UuidStr = Annotated[str, AfterValidator(canonical_uuid),
                    WithJsonSchema({"type": "string", "format": "uuid"})]


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Every problem pydantic found, as {path, message}: at most MAX_FIELD_ERRORS, and a
    last entry saying how many more there were (a body of 100,000 bad values must not
    make an answer of megabytes)."""
    errors = exc.errors(include_url=False)
    fields = []
    for error in errors[:MAX_FIELD_ERRORS]:
        path = ".".join(str(part) for part in error["loc"])
        fields.append({"path": path, "message": error["msg"].removeprefix("Value error, ")})
    if len(errors) > MAX_FIELD_ERRORS:
        fields.append({"path": "", "message": f"and {len(errors) - MAX_FIELD_ERRORS} more"})
    return fields


def invalid_body(fields: list[dict[str, str]], what: str = "request body") -> ApiError:
    summary = "; ".join(f"{f['path']}: {f['message']}" if f["path"] else f["message"]
                        for f in fields[:5])
    return ApiError(400, "bad_request", f"invalid {what}: {summary}", fields=fields)


def validate(model: type[ModelT], value: Any, what: str = "request body") -> ModelT:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_body(field_errors(exc), what) from None


class QueryModel(BaseModel):
    """Base of every query string: parameters not declared are ignored; an empty value is
    the parameter's default (`?status=` lists every status)."""

    model_config = ConfigDict(extra="ignore")


def parse_query(request: web.Request, model: type[QueryT]) -> QueryT:
    """The query string as `model` (the first value of a repeated parameter counts)."""
    values: dict[str, str] = {}
    for key, value in request.query.items():
        if value != "":
            values.setdefault(key, value)
    return validate(model, values, "query string")


async def parse_body(
    request: web.Request, model: type[RequestT], optional: bool = False,
) -> RequestT:
    """The request's body as `model`: JSON, or a form when the model accepts forms.

    `optional`: an empty body is the model's defaults.
    """
    if optional and not (await request.read()).strip():
        return validate(model, {})
    content_type = request.content_type
    if model.requires_json_type and not is_json_type(content_type) and not (
            model.accepts_forms and content_type in FORM_TYPES):
        wanted = "JSON or form" if model.accepts_forms else "JSON"
        raise bad_request(f"expected a {wanted} body (got Content-Type {content_type!r})")
    if model.accepts_forms and content_type in FORM_TYPES:
        body: dict[str, Any] = await form_fields(request)
        for key in model.form_json_fields:
            if isinstance(body.get(key), str):
                try:
                    body[key] = orjson.loads(body[key]) if body[key] else {}
                except orjson.JSONDecodeError:
                    raise invalid_body(
                        [{"path": key, "message": "must be a JSON object"}]) from None
        check_depth(body)
    else:
        body = await json_body(request)
    return validate(model, body)
