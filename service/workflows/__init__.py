"""Workflow definitions: parsing, validation, templates, versioned storage."""

from service.workflows.definition import WorkflowDefinition, WorkflowInvalid, parse_definition
from service.workflows.errors import WorkflowNotFound, WorkflowVersionNotFound
from service.workflows.repository import Workflow, WorkflowRepository

__all__ = [
    "Workflow", "WorkflowDefinition", "WorkflowInvalid", "WorkflowNotFound",
    "WorkflowRepository", "WorkflowVersionNotFound", "parse_definition",
]
