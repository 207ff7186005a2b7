"""The identity tables, and the one-time bootstrap of `admin` and the `default` workspace."""

from __future__ import annotations

import sqlite3
import uuid

from eventstore.sqlite import utc_now

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


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the identity tables if they are missing (a write job)."""
    for statement in TABLES:
        conn.execute(statement)


def is_bootstrapped(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM auth_meta WHERE key = ?", (BOOTSTRAP_MARKER,)).fetchone()
    return row is not None


def bootstrap(conn: sqlite3.Connection, admin_password_hash: str) -> bool:
    """Create `default` and `admin` once per database; True if `admin` was created now."""
    # A marker, not "no users yet": deleting `admin` later must not resurrect it on restart.
    if is_bootstrapped(conn):
        return False
    now = utc_now()
    conn.execute(
        "INSERT OR IGNORE INTO workspaces (id, name, created_by, created_at) VALUES (?, ?, NULL, ?)",
        (DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_ID, now),
    )
    taken = conn.execute(
        "SELECT 1 FROM users WHERE username = ?", (ADMIN_USERNAME,)
    ).fetchone()
    if taken is None:
        conn.execute(
            "INSERT INTO users (id, username, password_hash, is_admin, created_at) "
            "VALUES (?, ?, ?, 1, ?)",
            (str(uuid.uuid4()), ADMIN_USERNAME, admin_password_hash, now),
        )
    conn.execute("INSERT INTO auth_meta (key, value) VALUES (?, ?)", (BOOTSTRAP_MARKER, now))
    return taken is None
