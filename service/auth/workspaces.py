"""Workspaces, their members' roles, and chats (each owned by one user)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventstore.records import utc_now
from eventstore.tables import Tables, TableStore, Transaction
from service.auth.roles import ROLE_NAMES
from service.auth.schema import name_order


class WorkspaceNameTaken(Exception):
    """Another workspace has this name (compared case-insensitively)."""


class LastWorkspaceAdmin(Exception):
    """The change would leave a workspace without any admin member."""


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Member:
    workspace_id: str
    user_id: str
    username: str
    role: str


@dataclass(frozen=True, slots=True)
class Chat:
    id: str
    owner_id: str
    title: str
    created_at: str


def _workspace(row: Sequence[Any]) -> Workspace:
    return Workspace(row[0], row[1], row[2])


class WorkspaceRepository:
    """Workspaces, memberships and chats; the domain side of access (no HTTP in here)."""

    def __init__(self, store: TableStore) -> None:
        self.db = Tables(store)

    async def create_workspace(self, name: str, creator_id: str) -> Workspace:
        """A new workspace whose creator is its first admin member."""
        workspace = Workspace(str(uuid.uuid4()), name, utc_now())

        async def insert(tx: Transaction) -> None:
            # ON CONFLICT: the name (unique ignoring case) may be taken by a concurrent request.
            inserted = await tx.execute(
                "INSERT INTO workspaces (id, name, created_by, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (workspace.id, name, creator_id, workspace.created_at),
            )
            if inserted.rowcount == 0:
                raise WorkspaceNameTaken(name)
            await tx.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) "
                "VALUES (?, ?, 'admin', ?)",
                (workspace.id, creator_id, workspace.created_at),
            )

        await self.db.write(insert)
        return workspace

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        rows = await self.db.fetch_all(
            "SELECT id, name, created_at FROM workspaces WHERE id = ?", (workspace_id,)
        )
        return _workspace(rows[0]) if rows else None

    async def all_workspaces(self) -> list[Workspace]:
        rows = await self.db.fetch_all(
            "SELECT id, name, created_at FROM workspaces ORDER BY created_at, id"
        )
        return [_workspace(r) for r in rows]

    async def memberships(self, user_id: str) -> list[tuple[Workspace, str]]:
        """Every workspace the user belongs to, with the user's role name."""
        rows = await self.db.fetch_all(
            "SELECT w.id, w.name, w.created_at, m.role FROM workspace_members m "
            "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ? "
            "ORDER BY w.created_at, w.id",
            (user_id,),
        )
        return [(_workspace(r), r[3]) for r in rows]

    async def members(self, workspace_id: str) -> list[Member]:
        """The workspace's members, by username."""
        rows = await self.db.fetch_all(
            "SELECT m.workspace_id, m.user_id, u.username, m.role FROM workspace_members m "
            "JOIN users u ON u.id = m.user_id "
            "WHERE m.workspace_id = ? AND u.deleted_at IS NULL"
            f" ORDER BY {name_order('u.username', self.db.dialect)}, u.id",
            (workspace_id,),
        )
        return [Member(*row) for row in rows]

    async def role_of(self, user_id: str, workspace_id: str) -> str | None:
        rows = await self.db.fetch_all(
            "SELECT role FROM workspace_members WHERE user_id = ? AND workspace_id = ?",
            (user_id, workspace_id),
        )
        return str(rows[0][0]) if rows else None

    async def set_member(self, workspace_id: str, user_id: str, role: str) -> bool:
        """Add a member or change their role; True if they were not a member before."""
        if role not in ROLE_NAMES:
            raise ValueError(f"unknown role {role!r}")
        now = utc_now()

        async def upsert(tx: Transaction) -> bool:
            row = await self._role_for_change(tx, workspace_id, user_id)
            if (row is not None and row[0] == "admin" and role != "admin"
                    and await self._admin_count(tx, workspace_id) <= 1):
                raise LastWorkspaceAdmin(workspace_id)
            await tx.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id, user_id) "
                "DO UPDATE SET role = excluded.role",
                (workspace_id, user_id, role, now),
            )
            return row is None

        return await self.db.write(upsert)

    async def remove_member(self, workspace_id: str, user_id: str) -> bool:
        """Remove a member; False if they were not one. The last admin cannot be removed."""

        async def delete(tx: Transaction) -> bool:
            row = await self._role_for_change(tx, workspace_id, user_id)
            if row is None:
                return False
            if row[0] == "admin" and await self._admin_count(tx, workspace_id) <= 1:
                raise LastWorkspaceAdmin(workspace_id)
            await tx.execute(
                "DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user_id),
            )
            return True

        return await self.db.write(delete)

    @staticmethod
    async def _role_for_change(
        tx: Transaction, workspace_id: str, user_id: str
    ) -> Sequence[Any] | None:
        # On PostgreSQL two nodes could each demote one of the last two admins at once;
        # locking the workspace row makes changes to one workspace's members take turns
        # (SQLite's one writer already does).
        lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
        await tx.execute(f"SELECT id FROM workspaces WHERE id = ?{lock}", (workspace_id,))
        found = await tx.execute(
            "SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
            (workspace_id, user_id),
        )
        return found.first()

    @staticmethod
    async def _admin_count(tx: Transaction, workspace_id: str) -> int:
        (admins,) = (await tx.execute(
            "SELECT COUNT(*) FROM workspace_members WHERE workspace_id = ? AND role = 'admin'",
            (workspace_id,),
        )).rows[0]
        return int(admins)

    # -- chats -----------------------------------------------------------------

    async def create_chat(self, owner_id: str, title: str) -> Chat:
        chat = Chat(str(uuid.uuid4()), owner_id, title, utc_now())

        await self.db.execute(
            "INSERT INTO chats (id, owner_id, title, created_at) VALUES (?, ?, ?, ?)",
            (chat.id, chat.owner_id, chat.title, chat.created_at),
        )
        return chat

    async def get_chat(self, chat_id: str) -> Chat | None:
        rows = await self.db.fetch_all(
            "SELECT id, owner_id, title, created_at FROM chats WHERE id = ?", (chat_id,)
        )
        return Chat(rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else None
