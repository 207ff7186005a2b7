"""The PostgreSQL log's tables, and the connection settings every one of its connections uses."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventstore.hashchain import GENESIS_HASH

# One table of events, as in SQLite; `event_head` is the one row every append locks:
# it serialises appends across nodes, so positions are taken and committed in order,
# and it gives the chain its previous hash.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    position    BIGINT PRIMARY KEY,
    stream      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT NOT NULL,
    data        BYTEA NOT NULL,
    recorded_at TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_stream_position ON events (stream, position);
CREATE TABLE IF NOT EXISTS event_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    position BIGINT NOT NULL,
    hash     TEXT NOT NULL
);
INSERT INTO event_head (position, hash) VALUES (0, '{GENESIS_HASH}') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name     TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_leases (
    key        TEXT PRIMARY KEY,
    owner      TEXT,
    epoch      BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    queued     BIGSERIAL NOT NULL
);
CREATE INDEX IF NOT EXISTS run_leases_owner ON run_leases (owner);
CREATE INDEX IF NOT EXISTS run_leases_queued ON run_leases (queued);
CREATE TABLE IF NOT EXISTS run_messages (
    id      BIGSERIAL PRIMARY KEY,
    owner   TEXT NOT NULL,
    message BYTEA NOT NULL,
    answer  BYTEA,
    sent_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS run_messages_owner ON run_messages (owner) WHERE answer IS NULL;
"""

# `run_leases` (eventstore/leases.py): the node driving each unfinished root run. `owner`
# NULL with `expires_at` -infinity is a queued run any node with room may claim; `queued`
# orders claims first come, first served; `epoch` grows at each change of owner and
# fences the appends (postgres_writer.py). `run_messages`: requests about a run (cancel,
# resume) left for the node holding its lease, and that node's answers.

# Any number of nodes may create the schema at once; this lock makes them take turns.
SCHEMA_LOCK = 0x72756E73  # "runs"

EVENT_COLUMNS = "position, stream, version, type, data, recorded_at, prev_hash, hash"
INSERT_EVENT = (f"INSERT INTO events ({EVENT_COLUMNS}) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s)")
NOTIFY_CHANNEL = "runstream_events"

# A node that vanishes mid-transaction (killed, cut off) must not hold the head row's
# lock for long: the server ends an idle transaction, TCP keepalives find a dead peer,
# and an append waiting behind a lock gives up instead of queueing forever.
LOCK_TIMEOUT_MS = 10_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5",
              "keepalives_count": "3", "tcp_user_timeout": "30000"}
CONNECT_TIMEOUT_S = "10"


def connection_info(url: str, application_name: str = "runstream") -> str:
    """`url` with the timeouts and keepalives above (options already in it are kept)."""
    params = conninfo_to_dict(url)
    options = " ".join(filter(None, [
        str(params.get("options") or ""),
        f"-c lock_timeout={LOCK_TIMEOUT_MS}",
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}",
    ]))
    extra = {key: value for key, value in KEEPALIVES.items() if key not in params}
    extra.setdefault("connect_timeout", str(params.get("connect_timeout") or CONNECT_TIMEOUT_S))
    extra.setdefault("application_name", str(params.get("application_name") or application_name))
    return make_conninfo(url, options=options, **extra)
