"""The base of every response model and the small types they share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


class ResponseModel(BaseModel):
    """An answer's shape: every field required (null where it may be null), nothing else."""

    model_config = ConfigDict(extra="forbid")


Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Timestamp = Annotated[str, WithJsonSchema({
    "type": "string", "format": "date-time", "description": "ISO 8601 time (UTC)."})]
Count = Annotated[int, Field(ge=0)]
JsonObject = dict[str, Any]


def one_of(words: Iterable[str]) -> Any:
    """`Literal[...]` of `words` (a vocabulary read from the module that owns it)."""
    return Literal[tuple(dict.fromkeys(words))]
