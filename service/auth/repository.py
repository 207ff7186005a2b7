"""Users, login sessions and API tokens, in tables beside the log on either backend."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventstore.records import utc_now
from eventstore.tables import Tables, TableStore, Transaction
from service.auth import schema
from service.auth.passwords import dummy_hash, hash_password, verify_password

TOKEN_PREFIX = "rs_"
# Shown in listings so a user can tell tokens apart; far too short to guess the rest from.
TOKEN_SHOWN_CHARS = len(TOKEN_PREFIX) + 8


class UsernameTaken(Exception):
    """A user with this name exists (names are compared case-insensitively)."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    is_admin: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: str
    revoked_at: str | None


USER_COLUMNS = "u.id, u.username, u.is_admin, u.created_at"
TOKEN_COLUMNS = "id, user_id, name, prefix, created_at, revoked_at"


def _user(row: Sequence[Any]) -> User:
    return User(row[0], row[1], bool(row[2]), row[3])


def _token(row: Sequence[Any]) -> ApiToken:
    return ApiToken(row[0], row[1], row[2], row[3], row[4], row[5])


def _digest(secret: str) -> str:
    # Secrets are high-entropy random strings, so a plain sha256 is enough to store them.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AuthRepository:
    """Accounts and credentials; the domain side of identity (no HTTP in here)."""

    def __init__(self, store: TableStore) -> None:
        self.db = Tables(store)
        self._same_username = schema.same_name("u.username", self.db.dialect)

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables(schema.tables(self.db.dialect))

    async def bootstrap(self, admin_password: str) -> bool:
        """First start only: create `default` and `admin`; True if `admin` was created."""
        done = await self.db.fetch_all(
            "SELECT 1 FROM auth_meta WHERE key = ?", (schema.BOOTSTRAP_MARKER,)
        )
        if done:
            return False
        encoded = await asyncio.to_thread(hash_password, admin_password)
        async def write(tx: Transaction) -> bool:
            return await schema.bootstrap(tx, encoded)

        return await self.db.write(write)

    # -- users -----------------------------------------------------------------

    async def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        encoded = await asyncio.to_thread(hash_password, password)
        user = User(str(uuid.uuid4()), username, is_admin, utc_now())

        async def insert(tx: Transaction) -> None:
            # ON CONFLICT: a name taken by a concurrent request on another node counts too.
            inserted = await tx.execute(
                "INSERT INTO users (id, username, password_hash, is_admin, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (user.id, user.username, encoded, int(user.is_admin), user.created_at),
            )
            if inserted.rowcount == 0:
                raise UsernameTaken(username)

        await self.db.write(insert)
        return user

    async def get_user(self, user_id: str) -> User | None:
        rows = await self.db.fetch_all(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = ? AND u.deleted_at IS NULL",
            (user_id,),
        )
        return _user(rows[0]) if rows else None

    async def find_user(self, username: str) -> User | None:
        rows = await self.db.fetch_all(
            f"SELECT {USER_COLUMNS} FROM users u WHERE {self._same_username}"
            " AND u.deleted_at IS NULL",
            (username,),
        )
        return _user(rows[0]) if rows else None

    async def list_users(self, limit: int, offset: int) -> tuple[list[User], int]:
        rows = await self.db.fetch_all(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.deleted_at IS NULL "
            "ORDER BY u.created_at, u.id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        total = await self.db.fetch_all("SELECT COUNT(*) FROM users WHERE deleted_at IS NULL")
        return [_user(r) for r in rows], int(total[0][0])

    async def delete_user(self, user_id: str) -> bool:
        """Soft-delete: the id stays for the audit trail; every credential stops working."""
        now = utc_now()

        async def delete(tx: Transaction) -> bool:
            deleted = await tx.execute(
                "UPDATE users SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (now, user_id),
            )
            if deleted.rowcount == 0:
                return False
            for table in ("api_tokens", "login_sessions"):
                await tx.execute(
                    f"UPDATE {table} SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    (now, user_id),
                )
            await tx.execute("DELETE FROM workspace_members WHERE user_id = ?", (user_id,))
            return True

        return await self.db.write(delete)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches; the same work is done whether or not the name exists."""
        rows = await self.db.fetch_all(
            f"SELECT {USER_COLUMNS}, u.password_hash FROM users u "
            f"WHERE {self._same_username} AND u.deleted_at IS NULL",
            (username,),
        )
        encoded = rows[0][4] if rows else dummy_hash()
        ok = await asyncio.to_thread(verify_password, password, encoded)
        return _user(rows[0]) if rows and ok else None

    async def set_password(self, user_id: str, password: str) -> int:
        """Replace a user's password and end all their login sessions; returns how many."""
        encoded = await asyncio.to_thread(hash_password, password)
        now = utc_now()

        async def update(tx: Transaction) -> int:
            await tx.execute("UPDATE users SET password_hash = ? WHERE id = ?", (encoded, user_id))
            ended = await tx.execute(
                "UPDATE login_sessions SET revoked_at = ? "
                "WHERE user_id = ? AND revoked_at IS NULL",
                (now, user_id),
            )
            return ended.rowcount

        return await self.db.write(update)

    # -- login sessions (the cookie carries a random id; revoking it ends the session) -----

    async def create_session(self, user_id: str, max_age_s: int) -> str:
        secret = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = (now + timedelta(seconds=max_age_s)).isoformat()

        async def insert(tx: Transaction) -> None:
            # Dead rows can never match again; pruning here keeps the table at live sessions.
            await tx.execute(
                "DELETE FROM login_sessions WHERE expires_at <= ? OR revoked_at IS NOT NULL",
                (now.isoformat(),),
            )
            await tx.execute(
                "INSERT INTO login_sessions (id_hash, user_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (_digest(secret), user_id, now.isoformat(), expires),
            )

        await self.db.write(insert)
        return secret

    async def user_for_session(self, secret: str) -> User | None:
        rows = await self.db.fetch_all(
            f"SELECT {USER_COLUMNS} FROM login_sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? "
            "AND u.deleted_at IS NULL",
            (_digest(secret), datetime.now(UTC).isoformat()),
        )
        return _user(rows[0]) if rows else None

    async def revoke_session(self, secret: str) -> None:
        now = utc_now()
        await self.db.execute(
            "UPDATE login_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
            (now, _digest(secret)),
        )

    # -- API tokens ------------------------------------------------------------

    async def create_token(self, user_id: str, name: str) -> tuple[ApiToken, str]:
        """A new token and its secret; the secret is returned here and never again."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(str(uuid.uuid4()), user_id, name, secret[:TOKEN_SHOWN_CHARS],
                         utc_now(), None)
        await self.db.execute(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (token.id, user_id, name, _digest(secret), token.prefix, token.created_at),
        )
        return token, secret

    async def user_for_token(self, secret: str) -> User | None:
        rows = await self.db.fetch_all(
            f"SELECT {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.deleted_at IS NULL",
            (_digest(secret),),
        )
        return _user(rows[0]) if rows else None

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        rows = await self.db.fetch_all(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = ? ORDER BY created_at, id",
            (user_id,),
        )
        return [_token(r) for r in rows]

    async def get_token(self, token_id: str) -> ApiToken | None:
        rows = await self.db.fetch_all(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
        )
        return _token(rows[0]) if rows else None

    async def revoke_token(self, token_id: str) -> None:
        now = utc_now()
        await self.db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, token_id),
        )
