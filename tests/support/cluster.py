"""Several `runstream serve` nodes on one PostgreSQL database, sharing the first node's keys
(as the cluster's key rule requires)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.server_process import Api, ServerProcess, admin_token


def copy_keys(source: Path, target: Path) -> None:
    """The key files of one node's data directory into another's (mode 0600)."""
    target.mkdir(parents=True, exist_ok=True)
    for key in source.glob("*.key"):
        copy = target / key.name
        copy.write_bytes(key.read_bytes())
        copy.chmod(0o600)


class Cluster:
    def __init__(self, root: Path, database_url: str, names: tuple[str, ...],
                 **settings: Any) -> None:
        self.nodes = [ServerProcess(root / name, database_url=database_url, node_name=name,
                                    **settings) for name in names]
        self.apis: list[Api] = []

    async def start(self) -> None:
        first, *others = self.nodes
        await first.start()
        for node in others:
            copy_keys(first.data_dir, node.data_dir)
            await node.start()
        for node in self.nodes:
            self.apis.append(Api(node.base, await admin_token(node.base)))

    async def stop(self) -> None:
        for api in self.apis:
            await api.close()
        for node in self.nodes:
            await node.stop()

    async def events(self, run_id: str, via: int = 0) -> list[dict[str, Any]]:
        """The run's raw log rows, read through node `via`."""
        status, body = await self.apis[via].request(
            "GET", f"/api/v1/workflow-runs/{run_id}/events?limit=500")
        assert status == 200, body
        return list(body["data"])
