"""Workspace roles, written once: their order, their names as stored and sent, and what
each allows. The access checks, the request models, the OpenAPI document, the console
(through vocabulary.js) and docs/security.md read them here."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    """Workspace roles; each includes the rights of the ones below it."""

    VIEWER = 1  # read
    RUNNER = 2  # + execute, cancel, resume
    EDITOR = 3  # + edit workflows
    ADMIN = 4  # + manage members

    @property
    def word(self) -> str:
        """The role's name as stored, sent and accepted (`viewer` ...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}") from None


# Names from lowest to highest.
ROLE_NAMES: tuple[str, ...] = tuple(role.word for role in Role)

ROLE_RIGHTS: dict[Role, str] = {
    Role.VIEWER: "read the workspace's workflows and runs",
    Role.RUNNER: "+ execute, cancel and resume runs",
    Role.EDITOR: "+ create and edit workflows",
    Role.ADMIN: "+ manage members",
}
