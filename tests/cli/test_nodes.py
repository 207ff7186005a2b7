"""`runstream nodes`: the nodes serving a database, from their heartbeats, against real
`runstream serve` processes (one on SQLite; two sharing a PostgreSQL database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import arun
from tests.support.cluster import copy_keys
from tests.support.polling import wait_for
from tests.support.postgres import database_of_its_own
from tests.support.server_process import ServerProcess

BEAT_S = 0.3


@pytest.fixture
def own_database() -> Iterator[str]:
    with database_of_its_own("runstream_nodes") as url:
        yield url


async def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, err = await arun(capsys, "nodes", *args)
    assert code == 0, err
    return list(out)


async def test_the_one_sqlite_node_is_listed_while_it_serves(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, node_name="alpha", node_heartbeat_s=BEAT_S)
    await server.start()
    try:
        (node,) = await listed(capsys, "--data-dir", str(data))
        assert server.proc is not None
        assert (node["name"], node["pid"]) == ("alpha", server.proc.pid)
        assert (node["runsActive"], node["runsQueued"]) == (0, 0)
    finally:
        await server.stop()
    assert await listed(capsys, "--data-dir", str(data)) == []  # a clean stop leaves


async def test_nodes_on_one_postgresql_database_list_each_other_and_a_dead_one_ages_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, own_database: str,
) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text(f'database_url = "{own_database}"\n')
    servers = [ServerProcess(tmp_path / name, database_url=own_database, node_name=name,
                             node_heartbeat_s=BEAT_S) for name in ("n1", "n2")]
    # The second node needs the first one's keys (the cluster's key rule).
    await servers[0].start()
    copy_keys(servers[0].data_dir, tmp_path / "n2")
    await servers[1].start()
    try:
        args = ("--config", str(config), "--data-dir", str(tmp_path / "cli"))
        assert [n["name"] for n in await listed(capsys, *args)] == ["n1", "n2"]
        await servers[0].stop()
        assert [n["name"] for n in await listed(capsys, *args)] == ["n2"]
        await servers[1].kill()  # no goodbye: listed until its beats are missed

        async def gone() -> bool:
            return await listed(capsys, *args) == []

        await wait_for(gone, 10, "the killed node was still listed", every_s=0.2)
    finally:
        for server in servers:
            await server.stop()
