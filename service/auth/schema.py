"""The identity tables, and the one-time bootstrap of `admin` and the `default` workspace."""

from __future__ import annotations

import uuid

from eventstore.records import utc_now
from eventstore.rows import Dialect
from eventstore.tables import Transaction

DEFAULT_WORKSPACE_ID = "default"
ADMIN_USERNAME = "admin"
BOOTSTRAP_MARKER = "bootstrapped_at"

# One statement each: executescript would COMMIT the writer's open transaction.
TABLES = (
    """CREATE TABLE IF NOT EXISTS users (
        id            TEXT PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        is_admin      INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL,
        deleted_at    TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS login_sessions (
        id_hash    TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        name       TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        prefix     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (user_id)",
    """CREATE TABLE IF NOT EXISTS workspaces (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_by TEXT,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS workspace_members (
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        user_id      TEXT NOT NULL REFERENCES users (id),
        role         TEXT NOT NULL,
        added_at     TEXT NOT NULL,
        PRIMARY KEY (workspace_id, user_id)
    )""",
    "CREATE INDEX IF NOT EXISTS workspace_members_user ON workspace_members (user_id)",
    """CREATE TABLE IF NOT EXISTS chats (
        id         TEXT PRIMARY KEY,
        owner_id   TEXT NOT NULL REFERENCES users (id),
        title      TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS auth_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
)


# PostgreSQL has no NOCASE collation: there a name is unique and compared as lower(name).
_FOLDED_UNIQUE = (
    "CREATE UNIQUE INDEX IF NOT EXISTS users_username_folded ON users (lower(username))",
    "CREATE UNIQUE INDEX IF NOT EXISTS workspaces_name_folded ON workspaces (lower(name))",
)


def tables(dialect: Dialect) -> list[str]:
    """The identity tables' DDL on `dialect`."""
    if dialect == "postgresql":
        return [t.replace(" UNIQUE COLLATE NOCASE", "") for t in TABLES] + list(_FOLDED_UNIQUE)
    return list(TABLES)


def same_name(column: str, dialect: Dialect) -> str:
    """A condition: `column` equals the parameter, ignoring case, on `dialect`."""
    # On SQLite the column's NOCASE collation does it (and keeps its index in use).
    return f"{column} = ?" if dialect == "sqlite" else f"lower({column}) = lower(?)"


def name_order(column: str, dialect: Dialect) -> str:
    return column if dialect == "sqlite" else f"lower({column})"


async def is_bootstrapped(tx: Transaction) -> bool:
    found = await tx.execute("SELECT 1 FROM auth_meta WHERE key = ?", (BOOTSTRAP_MARKER,))
    return found.first() is not None


async def bootstrap(tx: Transaction, admin_password_hash: str) -> bool:
    """Create `default` and `admin` once per database; True if `admin` was created now."""
    # A marker, not "no users yet": deleting `admin` later must not resurrect it on restart.
    if await is_bootstrapped(tx):
        return False
    now = utc_now()
    await tx.execute(
        "INSERT INTO workspaces (id, name, created_by, created_at) VALUES (?, ?, NULL, ?)"
        " ON CONFLICT DO NOTHING",
        (DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_ID, now),
    )
    taken = (await tx.execute(
        f"SELECT 1 FROM users WHERE {same_name('username', tx.dialect)}", (ADMIN_USERNAME,)
    )).first()
    if taken is None:
        await tx.execute(
            "INSERT INTO users (id, username, password_hash, is_admin, created_at) "
            "VALUES (?, ?, ?, 1, ?)",
            (str(uuid.uuid4()), ADMIN_USERNAME, admin_password_hash, now),
        )
    # Two nodes bootstrapping at once: the second finds the marker taken and creates nothing.
    marked = await tx.execute(
        "INSERT INTO auth_meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (BOOTSTRAP_MARKER, now))
    return taken is None and marked.rowcount == 1
