"""/api/v1/workflows/{id}/webhooks: a workflow's webhooks; editors manage them and read
their deliveries, viewers list and read them. Deliveries themselves arrive at /hooks/{id}
(service/views/webhook_receiver.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from service import keys
from service.auth.access import require_principal
from service.auth.roles import Role
from service.errors import bad_request, not_found
from service.ids import path_uuid
from service.routing import (
    BAD_REQUEST,
    NOT_FOUND,
    Content,
    PathParam,
    Reply,
    RouteTable,
    Shape,
    data,
)
from service.triggers.webhooks import DEFAULT_DELIVERIES, MAX_DELIVERIES, Webhook, hook_path
from service.views.body import QueryModel, parse_body, parse_query, validate
from service.views.lookup import load_workflow
from service.views.models.webhooks import Webhook as WebhookModel
from service.views.models.webhooks import WebhookDeleted, WebhookDelivery
from service.views.queries import Digits
from service.views.responses import data_response
from service.views.webhook_requests import WebhookCreate, WebhookUpdate

API = "/api/v1/workflows/{workflowId}/webhooks"


class DeliveryListQuery(QueryModel):
    limit: Annotated[int, Digits, Field(ge=1, le=MAX_DELIVERIES, description=(
        "How many of the newest deliveries."))] = DEFAULT_DELIVERIES


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    config = webhook.config
    return {
        "id": webhook.id, "workflowId": webhook.workflow_id,
        "workspaceId": webhook.workspace_id, "url": hook_path(webhook.id),
        "auth": config["auth"], "hmac": config.get("hmac"), "token": config.get("token"),
        "responseMode": config["responseMode"],
        "idempotencyHeader": config.get("idempotencyHeader"), "methods": webhook.methods,
        "enabled": webhook.enabled, "createdBy": webhook.created_by,
        "createdAt": webhook.created_at, "updatedAt": webhook.updated_at,
    }


async def _check_secret(request: web.Request, workspace_id: str, body: WebhookCreate) -> None:
    """400 when the secret the webhook names is not a secret of its workspace."""
    name = body.secret_name()
    if name is None:
        return
    names = {info.name for info in await request.app[keys.WORKSPACE_SECRETS].list(workspace_id)}
    if name not in names:
        raise bad_request(f"the workspace has no secret named {name!r} (set it first: "
                          f"PUT /api/v1/workspaces/{workspace_id}/secrets/{name})")


async def _webhook(request: web.Request, role: Role) -> Webhook:
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), role)
    webhook = await request.app[keys.WEBHOOKS].get(path_uuid(request, "webhookId"))
    if webhook is None or webhook.workflow_id != workflow["id"]:
        raise not_found("webhook not found")
    return webhook


async def create_webhook(request: web.Request) -> web.Response:
    principal = require_principal(request)
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.EDITOR)
    body = await parse_body(request, WebhookCreate)
    await _check_secret(request, workflow["workspaceId"], body)
    webhook = await request.app[keys.WEBHOOKS].create(
        workflow["id"], workflow["workspaceId"], principal.user_id, body.config(),
        datetime.now(UTC))
    return data_response(webhook_json(webhook), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.VIEWER)
    webhooks = await request.app[keys.WEBHOOKS].of_workflow(workflow["id"])
    return data_response([webhook_json(webhook) for webhook in webhooks])


async def get_webhook(request: web.Request) -> web.Response:
    return data_response(webhook_json(await _webhook(request, Role.VIEWER)))


async def update_webhook(request: web.Request) -> web.Response:
    webhook = await _webhook(request, Role.EDITOR)
    changes = await parse_body(request, WebhookUpdate)
    body = validate(WebhookCreate, changes.merged(webhook.config))
    await _check_secret(request, webhook.workspace_id, body)
    updated = await request.app[keys.WEBHOOKS].update(webhook, body.config(), datetime.now(UTC))
    return data_response(webhook_json(updated))


async def delete_webhook(request: web.Request) -> web.Response:
    webhook = await _webhook(request, Role.EDITOR)
    await request.app[keys.WEBHOOKS].delete(webhook.id)
    return data_response({"id": webhook.id, "deleted": True})


async def list_deliveries(request: web.Request) -> web.Response:
    webhook = await _webhook(request, Role.EDITOR)
    query = parse_query(request, DeliveryListQuery)
    return data_response(await request.app[keys.WEBHOOKS].deliveries(
        webhook.id, query.limit, time.time()))


def register_routes(table: RouteTable) -> None:
    tag = "webhooks"
    workflow = {"workflowId": PathParam("Workflow id.")}
    one = {**workflow, "webhookId": PathParam("Webhook id.")}
    missing = NOT_FOUND.saying("Workflow not found (or not the caller's).")
    missing_one = NOT_FOUND.saying("Workflow or webhook not found (or not the caller's).")
    invalid = BAD_REQUEST.saying("A bad body, or a secret the workspace does not have.")
    table.register(
        "POST", API, create_webhook, operation_id="createWebhook", tag=tag,
        summary="A URL that starts runs of the workflow's latest version (workflow editors)",
        description="Deliveries are sent to the answer's `url` (/hooks/{id}); the id is "
                    "random (122 bits) and is the URL's only name. The `hmac` or `token` "
                    "secret is a workspace secret named here; its value is never answered.",
        path_params=workflow, body=WebhookCreate,
        replies=(data(WebhookModel, "Created, with its URL.", status=201),),
        errors=(invalid, missing))
    table.register(
        "GET", API, list_webhooks, operation_id="listWebhooks", tag=tag,
        summary="The workflow's webhooks (viewers)", path_params=workflow,
        replies=(Reply(200, "Oldest first.", {
            "application/json": Content(Shape.DATA_LIST, WebhookModel)}),),
        errors=(BAD_REQUEST, missing))
    table.register(
        "GET", f"{API}/{{webhookId}}", get_webhook, operation_id="getWebhook", tag=tag,
        summary="A webhook (viewers)", path_params=one,
        replies=(data(WebhookModel, "The webhook."),), errors=(BAD_REQUEST, missing_one))
    table.register(
        "PATCH", f"{API}/{{webhookId}}", update_webhook, operation_id="updateWebhook",
        tag=tag, summary="Change a webhook; disable and enable it with `enabled` (editors)",
        path_params=one, body=WebhookUpdate, replies=(data(WebhookModel, "Changed."),),
        errors=(invalid, missing_one))
    table.register(
        "DELETE", f"{API}/{{webhookId}}", delete_webhook, operation_id="deleteWebhook",
        tag=tag, summary="Delete a webhook and its deliveries (editors); its runs stay",
        path_params=one, replies=(data(WebhookDeleted, "Deleted."),),
        errors=(BAD_REQUEST, missing_one))
    table.register(
        "GET", f"{API}/{{webhookId}}/deliveries", list_deliveries,
        operation_id="listWebhookDeliveries", tag=tag,
        summary="The webhook's recent deliveries, newest first (editors)",
        description="Every request to the webhook's URL: when, the status it was answered, "
                    "what its signature came to and the run it started. Kept "
                    "`webhook_delivery_retention_s`.",
        path_params=one, query=DeliveryListQuery,
        replies=(Reply(200, "Newest first.", {
            "application/json": Content(Shape.DATA_LIST, WebhookDelivery)}),),
        errors=(BAD_REQUEST, missing_one))
