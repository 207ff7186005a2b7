"""GET /healthz: liveness, readiness and, for global admins, the store's resources."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from service.views.models.base import Count, ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]
    head: Count = Field(description="The log's last position.")
    backend: Literal["sqlite", "postgresql"] = Field(description="Where the log lives.")
    node: str = Field(description="The answering node's name (`node_name`, or its host "
                                  "name): behind a load balancer, which node this was.")
    store: dict[str, Any] | None = Field(None, description=(
        "Global admins only. Backend facts: for SQLite `walBytes`, `walRestartBytes`, "
        "`lastPassive` and `lastRestart` (the last checkpoint of each kind: mode, at, "
        "durationMs, frames, complete), `restarts`, `restartsIncomplete`, and the live "
        "ring's `ringEvents`, `ringBytes` and `ringBudgetBytes`."))
