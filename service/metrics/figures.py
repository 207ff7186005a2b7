"""The service's metrics: instruments observed as things happen (group commits, node
durations), and figures read at scrape time (runs, the log's head, streams, files,
the last checkpoint), both in one prometheus-client registry per app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from eventstore.interface import EventStore
from service.audit.checkpoints import Checkpoints
from service.streams.registry import StreamRegistry

# A stream's route tag names the dialect it speaks.
DIALECTS = {"workflow-runs": "v1", "chat": "chat", "flowtrux": "flowtrux", "splox": "splox",
            "events": "log"}
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TOKEN_KINDS = (("prompt", "promptTokens"), ("completion", "completionTokens"),
               ("reasoning", "reasoningTokens"), ("cached", "cachedTokens"))
NODE_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0)


def dialect(tag: str) -> str:
    return DIALECTS.get(tag, tag or "other")


@dataclass
class Snapshot:
    """What a scrape reads from the store and the files, gathered before rendering
    (prometheus-client collects synchronously; the store is read asynchronously)."""

    runs: list[tuple[str, str, int]] = field(default_factory=list)
    head: int = 0
    database_bytes: int = 0
    # None on PostgreSQL: its WAL belongs to the whole server, not to this database.
    wal_bytes: int | None = 0
    checkpoint_age_s: float | None = None


class ScrapeFigures(Collector):
    """The figures of the last snapshot, and the open streams as they are now."""

    def __init__(self, streams: StreamRegistry) -> None:
        self.streams = streams
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        runs = GaugeMetricFamily("runstream_runs", "Runs by workflow and canonical status.",
                                 labels=["workflow_id", "status"])
        for workflow_id, status, count in snap.runs:
            runs.add_metric([workflow_id, status], count)
        yield runs
        yield CounterMetricFamily("runstream_events_appended", "Events appended to the log "
                                  "(its head position: it survives restarts).", snap.head)
        yield from self._streams()
        yield GaugeMetricFamily("runstream_database_bytes", "Size of the database: the "
                                "SQLite file, or pg_database_size on PostgreSQL.",
                                snap.database_bytes)
        if snap.wal_bytes is not None:
            yield GaugeMetricFamily("runstream_wal_bytes", "Size of the SQLite WAL file.",
                                    snap.wal_bytes)
        if snap.checkpoint_age_s is not None:
            yield GaugeMetricFamily("runstream_checkpoint_age_seconds",
                                    "Seconds since the newest signed checkpoint.",
                                    snap.checkpoint_age_s)

    def _streams(self) -> Iterator[Metric]:
        open_by: dict[str, int] = {}
        lag_by: dict[str, int] = {}
        for stream in self.streams:
            name = dialect(stream.tag)
            open_by[name] = open_by.get(name, 0) + 1
            lag_by[name] = max(lag_by.get(name, 0), stream.lag)
        opened = GaugeMetricFamily("runstream_open_streams", "Open event streams by dialect.",
                                   labels=["dialect"])
        lag = GaugeMetricFamily(
            "runstream_subscription_lag_events", "Per dialect, the most any open stream's "
            "last event lagged behind the log's head when it was sent.", labels=["dialect"])
        for name in sorted(open_by):
            opened.add_metric([name], open_by[name])
            lag.add_metric([name], lag_by[name])
        ended = CounterMetricFamily("runstream_streams_ended", "Streams ended, by dialect "
                                    "and how (terminal, gone, slow, revoked, ...).",
                                    labels=["dialect", "ending"])
        slow = CounterMetricFamily("runstream_streams_dropped_slow", "Streams dropped "
                                   "because their client did not read in time.",
                                   labels=["dialect"])
        dropped: dict[str, int] = {}
        for (tag, ending), count in sorted(self.streams.endings.items()):
            ended.add_metric([dialect(tag), ending], count)
            if ending == "slow":
                dropped[dialect(tag)] = dropped.get(dialect(tag), 0) + count
        for name, count in sorted(dropped.items()):
            slow.add_metric([name], count)
        yield from (opened, lag, ended, slow)


class Metrics:
    """One app's metrics: hooked to its store and engine, rendered by `render()`."""

    def __init__(self, store: EventStore, streams: StreamRegistry,
                 checkpoints: Checkpoints, database: Path) -> None:
        self.store = store
        self.checkpoints = checkpoints
        self.database = database
        self.registry = CollectorRegistry()
        self.figures = ScrapeFigures(streams)
        self.registry.register(self.figures)
        self.commit_jobs = Histogram(
            "runstream_commit_batch_jobs", "Writes committed together in one group commit.",
            buckets=BATCH_BUCKETS, registry=self.registry)
        self.commit_seconds = Histogram(
            "runstream_commit_seconds", "Time to run and commit one group commit.",
            buckets=COMMIT_BUCKETS, registry=self.registry)
        self.node_seconds = Histogram(
            "runstream_node_duration_seconds", "Completed nodes' durations, by node type.",
            ["node_type"], buckets=NODE_BUCKETS, registry=self.registry)

        self.model_tokens = Counter(
            "runstream_model_tokens", "Model tokens used by nodes (agent), by model and kind "
            "(prompt, completion, reasoning, cached).", ["model", "kind"],
            registry=self.registry)

    def group_committed(self, jobs: int, seconds: float) -> None:
        self.commit_jobs.observe(jobs)
        self.commit_seconds.observe(seconds)

    def node_completed(self, node_type: str, duration_ms: int, output: Any) -> None:
        self.node_seconds.labels(node_type).observe(duration_ms / 1000)
        # A node that called a model says which and what it used (agent nodes' output).
        if isinstance(output, dict) and isinstance(output.get("model"), str) \
                and isinstance(output.get("usage"), dict):
            for kind, key in TOKEN_KINDS:
                count = output["usage"].get(key)
                if isinstance(count, int) and count > 0:
                    self.model_tokens.labels(output["model"], kind).inc(count)

    async def render(self) -> bytes:
        self.figures.snapshot = await self._snapshot()
        return bytes(generate_latest(self.registry))

    async def _snapshot(self) -> Snapshot:
        rows = await self.store.fetch_all(
            "SELECT workflow_id, status, SUM(count) FROM run_status_counts "
            "GROUP BY workflow_id, status ORDER BY workflow_id, status")
        newest = await self.checkpoints.newest(1)
        age = None
        if newest:
            signed = datetime.fromisoformat(newest[0].signed_at.replace("Z", "+00:00"))
            age = max(0.0, (datetime.now(UTC) - signed).total_seconds())
        database_bytes, wal_bytes = await self._sizes()
        return Snapshot(
            runs=[(str(w), str(s), int(c)) for w, s, c in rows], head=await self.store.head(),
            database_bytes=database_bytes, wal_bytes=wal_bytes, checkpoint_age_s=age)

    async def _sizes(self) -> tuple[int, int | None]:
        """The database's bytes and its WAL's (None where the WAL is not this database's)."""
        if self.store.dialect == "postgresql":
            rows = await self.store.fetch_all("SELECT pg_database_size(current_database())")
            return int(rows[0][0]), None
        return _size(self.database), _size(self.database.with_name(self.database.name + "-wal"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
