"""Domain errors of the workflow repository; views translate them to HTTP."""

from __future__ import annotations

from service.workflows.definition import WorkflowInvalid

__all__ = ["WorkflowInvalid", "WorkflowNotFound", "WorkflowVersionNotFound"]


class WorkflowNotFound(LookupError):
    """No workflow with this id (in this workspace)."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} not found")
        self.workflow_id = workflow_id


class WorkflowVersionNotFound(WorkflowNotFound):
    """The workflow exists but has no such version."""

    def __init__(self, workflow_id: str, version: int) -> None:
        LookupError.__init__(self, f"workflow {workflow_id!r} has no version {version}")
        self.workflow_id = workflow_id
        self.version = version
