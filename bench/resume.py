"""First-event latency of a resumed run stream (`Last-Event-ID`), with 10,000 and 1,000,000
events in the log: resume cost must not grow with history.

The log holds a waiting run (a one-approval workflow, started through the engine), then
N filler events of other runs written straight into the table with plain sqlite3 and
the hash chain computed as the store does (the log is verified before use), then one
more event of the run appended through the store after a restart. A client resumes the
run's stream with `Last-Event-ID` = the run's last event before the filler, so the
first event it gets lies behind all the history (read from disk: the restarted hub's
ring does not reach back that far). Median over REPEATS reconnects, each a new
connection, timed from the request to the parsed first frame with an id; the two
servers run side by side and the reconnects alternate between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench._streaming import GATE, admin_token, runstream_app, waiting_run
from bench.common import note, report, scratch_dir
from eventstore.hashchain import canonical_bytes, chain_hash
from eventstore.records import NewEvent
from eventstore.sqlite import EVENT_COLUMNS, utc_now, verify_file
from eventstore.sqlite_writer import open_connection
from projections.vocabulary import EventType
from service import keys

SIZES = {"10k": 10_000, "1m": 1_000_000}
REPEATS = 200
EVENTS_PER_FILLER_RUN = 100
INSERT_CHUNK = 50_000


def write_filler(db: Path, count: int) -> int:
    """Append `count` NodeProgress events of other runs, hash-chained; returns the new head."""
    conn = open_connection(db, "OFF", writer=True)
    try:
        position, prev = conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
        recorded_at = utc_now()
        conn.execute("BEGIN IMMEDIATE")
        rows = []
        for i in range(count):
            position += 1
            stream = str(uuid.UUID(int=i // EVENTS_PER_FILLER_RUN + 1))
            version = i % EVENTS_PER_FILLER_RUN + 1
            data = orjson.dumps({"nodeId": "work", "progress": version,
                                 "message": f"step {version}"})
            type_ = EventType.NODE_PROGRESS.value
            digest = chain_hash(
                prev, canonical_bytes(position, stream, version, type_, data, recorded_at))
            rows.append((position, stream, version, type_, data, recorded_at, prev, digest))
            prev = digest
            if len(rows) == INSERT_CHUNK:
                conn.executemany(
                    f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                rows.clear()
        if rows:
            conn.executemany(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        # The projections ignore events of runs they never saw created: they are up to date.
        conn.execute("UPDATE projection_checkpoints SET position = ?", (position,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(position)
    finally:
        conn.close()


async def first_event_ms(url: str, headers: dict[str, str]) -> tuple[float, int]:
    """Time from the request to the first parsed frame that carries an id; and that id."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            buffer = b""
            while True:
                chunk = await resp.content.readany()
                assert chunk, "stream ended before its first event"
                buffer += chunk
                *frames, buffer = buffer.split(b"\n\n")
                for frame in frames:
                    for line in frame.split(b"\n"):
                        if line.startswith(b"id: "):
                            return (time.perf_counter() - started) * 1000, int(line[4:])


@dataclass
class Resumable:
    """A log built for the benchmark, and where its run's stream resumes."""

    data_dir: Path
    token: str
    run_id: str
    cursor: int


async def build(data_dir: Path, filler: int) -> Resumable:
    async with runstream_app(data_dir) as (app, base_url):
        token = await admin_token(base_url)
        run_id = await waiting_run(app, base_url, token)
        cursor = (await app[keys.STORE].read(run_id))[-1].position
    started = time.perf_counter()
    head = await asyncio.to_thread(write_filler, data_dir / "runstream.db", filler)
    result = await asyncio.to_thread(verify_file, data_dir / "runstream.db")
    assert result.ok, result
    assert result.checked == head, result
    note(f"{head} events written and verified in {time.perf_counter() - started:.1f} s")
    return Resumable(data_dir, token, run_id, cursor)


async def sample(logs: dict[str, Resumable]) -> dict[str, list[float]]:
    """Serve every log at once and alternate reconnects between them, so that a busy
    moment of the machine weighs on every figure alike."""
    streams: dict[str, tuple[str, dict[str, str], int]] = {}
    async with contextlib.AsyncExitStack() as apps:
        for label, log in logs.items():
            app, base_url = await apps.enter_async_context(runstream_app(log.data_dir))
            tail = await app[keys.STORE].append(log.run_id, [NewEvent(
                EventType.NODE_THINKING, {"nodeId": GATE, "text": "after the history"})])
            url = f"{base_url}/api/v1/workflow-runs/{log.run_id}/stream"
            headers = {"Authorization": f"Bearer {log.token}", "Last-Event-ID": str(log.cursor)}
            await first_event_ms(url, headers)  # warm-up: first connection, cold caches
            streams[label] = (url, headers, tail[0].position)
        samples: dict[str, list[float]] = {label: [] for label in streams}
        for _ in range(REPEATS):
            for label, (url, headers, expected) in streams.items():
                ms, position = await first_event_ms(url, headers)
                assert position == expected, (position, expected)
                samples[label].append(ms)
    return samples


async def main() -> None:
    with contextlib.ExitStack() as dirs:
        logs = {
            label: await build(dirs.enter_context(scratch_dir(f"bench-resume-{label}-")), filler)
            for label, filler in SIZES.items()
        }
        samples = await sample(logs)
    figures = {label: statistics.median(values) for label, values in samples.items()}
    for label, value in figures.items():
        report(f"resume_first_event_ms_{label}", value, "ms")
    report("resume_ratio", figures["1m"] / figures["10k"], "x")
