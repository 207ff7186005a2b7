"""The request bodies of the API, one model each: what they hold and their limits.

Handlers read them with `parse_body(request, Model)` (service/views/body.py); the OpenAPI
document describes them from the same models (service/openapi/).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from service.auth.roles import ROLE_NAMES
from service.auth.validation import USERNAME_PATTERN
from service.engine.registry import default_registry
from service.limits import (
    MAX_CANCEL_RUN_IDS,
    MAX_CHAT_TITLE,
    MAX_NAME,
    MAX_PASSWORD_LENGTH,
    MAX_REASON_CHARS,
    MAX_USERNAME,
    MIN_PASSWORD_LENGTH,
)
from service.secrets.repository import MAX_VALUE_CHARS
from service.views.body import RequestModel, UuidStr
from service.workflows.schema import definition_components


def _none_as_empty(value: Any) -> Any:
    return {} if value is None else value


def _none_as_blank(value: Any) -> Any:
    return "" if value is None else value


def _form_bool(value: Any) -> Any:
    """JSON true/false, or the words a form sends: true/false, 1/0, on/off (any case).
    Nothing looser: `"yes"` or `1` must not make an admin by accident."""
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in FORM_BOOL_WORDS:
        return FORM_BOOL_WORDS[value.lower()]
    return value


FORM_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "on": True,
                   "off": False}
FormBool = Annotated[StrictBool, BeforeValidator(_form_bool)]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


JsonObject = Annotated[dict[str, Any], BeforeValidator(_none_as_empty)]
StringMap = Annotated[dict[str, str], BeforeValidator(_none_as_empty)]
Password = Annotated[str, StringConstraints(max_length=MAX_PASSWORD_LENGTH)]
# A password being set: the policy's lengths (password_problem says the rest).
NewPassword = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH,
                                               max_length=MAX_PASSWORD_LENGTH)]


# -- runs ---------------------------------------------------------------------------


class ExecuteRequest(RequestModel):
    """Start a run (JSON, or form fields with `inputs` and `envs` as JSON text)."""

    accepts_forms = True
    form_json_fields = ("inputs", "envs")

    workflowId: UuidStr
    inputs: JsonObject = Field(default_factory=dict, description=(
        "Merged over the trigger's staticData: `{{inputs.x}}` and `{{trigger.data.x}}`."))
    envs: StringMap = Field(default_factory=dict, description=(
        "Secret values for `{{env.X}}`: never written to the log, a response or a stream."))
    chatId: str | None = Field(None, description="A chat of the caller's to run it in.")


class CancelRequest(RequestModel):
    """Cancel runs: `runIds`, or every unfinished run of `workflowId` (not both)."""

    runIds: Annotated[list[UuidStr], Field(min_length=1, max_length=MAX_CANCEL_RUN_IDS)] | None \
        = None
    workflowId: UuidStr | None = None
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)] | None = None

    @model_validator(mode="after")
    def one_target(self) -> CancelRequest:
        if (self.runIds is None) == (self.workflowId is None):
            raise ValueError("provide either runIds or workflowId, not both")
        return self


class ResumeRequest(RequestModel):
    """Answer a node waiting for approval."""

    approved: StrictBool = True
    data: JsonObject = Field(default_factory=dict, description="Handed to the node.")


class RerunRequest(RequestModel):
    """Start a new run of a finished run's workflow, linked to it (`rerunOf`)."""

    fromNode: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Start here: every node upstream of it that completed in the original "
                    "is not run again, its output is copied over. Null: a fresh run.")
    version: Literal["original", "latest"] = Field(
        default="original", description="The workflow version the original ran, or the "
                                         "workflow's latest.")
    inputs: JsonObject | None = Field(
        default=None, description="Inputs instead of the original's (null: the same).")


class WorkflowInput(RequestModel):
    """A workflow definition (service/workflows/schema.py, with every installed node type)
    plus the workspace it belongs to. The repository validates it on save (422 with the
    node ids); this model only names it for the route table and the OpenAPI document."""

    model_config = ConfigDict(extra="allow")

    workspaceId: str | None = None

    @classmethod
    def openapi_components(cls, ref_template: str) -> dict[str, Any]:
        """The definition's components, and this body as the definition plus workspaceId."""
        components = definition_components(default_registry(), ref_template)
        definition = components["WorkflowDefinition"]
        components[cls.__name__] = {**definition, "properties": {
            **definition["properties"], "workspaceId": {"type": "string", "description": (
                "`default` (the default) or a workspace UUID; a workflow cannot move to "
                "another workspace.")}}}
        return components


# -- dialects -------------------------------------------------------------------------


class TriggerPayload(RootModel[dict[str, Any]]):
    """A FlowTrux body: the trigger payload (optional), merged over the trigger's
    staticData."""


class ChatRunStart(RequestModel):
    """Start a run in a chat (seed 001)."""

    accepts_forms = True
    form_json_fields = ("inputs", "envs")

    workflowId: UuidStr
    inputs: JsonObject = Field(default_factory=dict)
    envs: StringMap = Field(default_factory=dict)


class ChatCreate(RequestModel):
    """A new chat; the body may be empty."""

    title: Annotated[str, StringConstraints(max_length=MAX_CHAT_TITLE),
                     BeforeValidator(_none_as_blank)] = ""


class SploxCreateRequest(RequestModel):
    """Start a run as a Splox workflow_request (seed 003)."""

    accepts_forms = True
    form_json_fields = ("payload",)

    workflow_id: UuidStr
    payload: JsonObject = Field(default_factory=dict, description=(
        "Merged over the trigger's staticData."))


# -- identity ---------------------------------------------------------------------------


class IdentityRequest(RequestModel):
    """Identity bodies are JSON (or forms, where allowed) by their Content-Type only: a login
    posted as text/plain from another site must not count (login CSRF)."""

    requires_json_type = True


class LoginRequest(IdentityRequest):
    accepts_forms = True

    username: Annotated[str, StringConstraints(max_length=MAX_USERNAME)]
    password: Password


class PasswordChange(IdentityRequest):
    currentPassword: Password
    newPassword: NewPassword


class UserCreate(IdentityRequest):
    username: Annotated[str, StringConstraints(pattern=USERNAME_PATTERN), Field(description=(
        "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."))]
    password: NewPassword | None = Field(
        None, description="Generated (and shown once) if absent.")
    isAdmin: FormBool = False


class TokenCreate(IdentityRequest):
    name: Annotated[str, StringConstraints(max_length=MAX_NAME)] | None = None


class WorkspaceCreate(IdentityRequest):
    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]

    @field_validator("name")
    @classmethod
    def printable(cls, name: str) -> str:
        if name != name.strip() or not name.isprintable():
            raise ValueError("must be printable, without leading or trailing spaces")
        return name


class MemberAdd(IdentityRequest):
    """Add a member by `userId` or `username` (exactly one), with a role."""

    userId: UuidStr | None = None
    username: Annotated[str, StringConstraints(max_length=MAX_USERNAME)] | None = None
    role: Annotated[Literal[ROLE_NAMES], BeforeValidator(_lower)]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def one_user(self) -> MemberAdd:
        if (self.userId is None) == (self.username is None):
            raise ValueError("give exactly one of userId or username")
        return self


class SecretValue(RequestModel):
    """A workspace secret's value (its name is in the path)."""

    requires_json_type = True
    value: Annotated[str, StringConstraints(min_length=1, max_length=MAX_VALUE_CHARS),
                     Field(description="Stored encrypted; never answered.")]


class ToolCallDecision(RequestModel):
    """A person's decision on an agent's tool call that waits for approval."""

    requires_json_type = True
    decision: Literal["approve", "reject"]
    args: dict[str, Any] | None = Field(None, description=(
        "Edited arguments to run the call with instead of the model's (approve only)."))
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)] | None = Field(
        None, description="Why; a rejection tells the model.")


# Within a signed 64-bit column on either backend.
MAX_POLICY_COUNT = 2**62


class RetentionPolicyBody(RequestModel):
    """A workspace's own retention policy; a null (or absent) field sets no limit of that
    kind, and the policy replaces the service default whole."""

    requires_json_type = True
    maxAgeDays: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False, description=(
        "Families that finished longer ago than this many days are pruned."))] | None = None
    maxRuns: Annotated[StrictInt, Field(gt=0, le=MAX_POLICY_COUNT, description=(
        "The workspace keeps at most this many runs; the oldest finished families go "
        "first."))] | None = None
    maxBytes: Annotated[StrictInt, Field(gt=0, le=MAX_POLICY_COUNT, description=(
        "The same, counting the event data bytes of the workspace's runs."))] | None = None


class EraseRequest(RequestModel):
    """Why a run is erased (recorded in the log with who did it)."""

    requires_json_type = True
    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON_CHARS,
                                             strip_whitespace=True)]
