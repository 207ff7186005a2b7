"""Many SSE clients in one process, for the stream benchmarks (run by bench/_streaming.py).

`python -m bench._sse_clients MODE URL COUNT OUT_PATH HEADERS_JSON`: opens COUNT
streams, prints `ready` once every one has received its first bytes, and on `stop`
on stdin closes them (`count` on stdin prints how many frames
it has recorded), writes its records to OUT_PATH and prints `done`.
MODE `record` parses every frame and records, per frame with an id, the position,
the time it was parsed and the send time carried in its data (`content`);
MODE `idle` only holds the streams open.
"""

from __future__ import annotations

import asyncio
import sys
import time
from array import array

import aiohttp
import orjson

from service.runtime import raise_open_files_limit

CONNECTING_AT_ONCE = 100


def parse_frames(buffer: bytes, received_at: float, records: array[float]) -> bytes:
    """Record every complete frame in `buffer`; returns the incomplete rest."""
    *frames, rest = buffer.split(b"\n\n")
    for frame in frames:
        event_id = None
        data = b""
        for line in frame.split(b"\n"):
            if line.startswith(b"id: "):
                event_id = int(line[4:])
            elif line.startswith(b"data: "):
                data += line[6:]
        if event_id is None:
            continue  # retry, keepalive
        sent = float(orjson.loads(data)["content"])
        records.extend((event_id, received_at, sent))
    return rest


async def client(
    http: aiohttp.ClientSession, url: str, record: bool, records: array[float],
    gate: asyncio.Semaphore, connected: list[int], all_connected: asyncio.Event, count: int,
) -> None:
    async with gate:
        resp = await http.get(url)
        if resp.status != 200:
            print(f"status {resp.status}: {await resp.text()}", flush=True)
            sys.exit(1)
        buffer = await resp.content.readany()
    connected[0] += 1
    if connected[0] == count:
        all_connected.set()
    while True:
        chunk = await resp.content.readany()
        if not chunk:
            return
        if record:
            buffer = parse_frames(buffer + chunk, time.time(), records)


async def main(mode: str, url: str, count: int, headers: dict[str, str]) -> array[float]:
    raise_open_files_limit()
    records: array[float] = array("d")
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers=headers, auto_decompress=False) as http:
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
        connected = [0]
        all_connected = asyncio.Event()
        tasks = [
            asyncio.create_task(client(http, url, mode == "record", records, gate, connected,
                                       all_connected, count))
            for _ in range(count)
        ]
        waiter = asyncio.create_task(all_connected.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if not all_connected.is_set():
            for task in tasks:
                if task.done() and task.exception() is not None:
                    print(f"client failed: {task.exception()!r}", flush=True)
                    sys.exit(1)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        # `count` asks how many frames were recorded so far; anything else stops.
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "count":
            print(len(records) // 3, flush=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return records


if __name__ == "__main__":
    mode, url, count, out_path, headers = sys.argv[1:6]
    recorded = asyncio.run(main(mode, url, int(count), orjson.loads(headers)))
    with open(out_path, "wb") as out:
        recorded.tofile(out)
    print("done", flush=True)
