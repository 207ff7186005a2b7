"""The event store the settings name: SQLite in the data directory, or PostgreSQL."""

from __future__ import annotations

from eventstore.interface import EventStore
from eventstore.postgres import PostgresEventStore
from eventstore.sqlite import SQLiteEventStore
from eventstore.sqlite_checkpoint import WalPolicy
from projections import all_projections
from service.settings import Settings


async def open_event_store(settings: Settings) -> EventStore:
    """`database_url` empty: runstream.db in `data_dir`; `postgresql://...`: that database."""
    if settings.database_url:
        return await PostgresEventStore.open(
            settings.database_url, all_projections(), ring_size=settings.live_ring_size,
            ring_bytes=settings.live_ring_bytes, max_event_bytes=settings.max_event_bytes)
    return await SQLiteEventStore.open(
        settings.database_path,
        all_projections(),
        synchronous=settings.synchronous,
        ring_size=settings.live_ring_size,
        ring_bytes=settings.live_ring_bytes,
        max_event_bytes=settings.max_event_bytes,
        wal=WalPolicy(settings.wal_restart_bytes, settings.wal_checkpoint_wait_ms),
    )
