"""The keys every node on one database must share, and the check that they do.

A session cookie made by one node is opened by another, a secret sealed by one is
unsealed by another, and every node signs checkpoints of the same log: so the session
key, the secrets key and the checkpoint signing key must be the same on all of them.
The keys themselves come from each node's config, environment or (shared) data
directory, never from the database, which would hand them to whoever reads a backup.
What the database keeps is a fingerprint of each: the first node records them, and a
node whose key does not match refuses to start and says which key differs, instead of
serving cookies no other node accepts and secrets no other node can open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from eventstore.records import utc_now
from eventstore.tables import Tables, TableStore, Transaction
from service.audit.signing import key_id, load_signing_key
from service.auth.session_key import KEY_FILE as SESSION_KEY_FILE
from service.keyfiles import fernet_key
from service.secrets.key import KEY_FILE as SECRETS_KEY_FILE
from service.secrets.key import secrets_key
from service.settings import Settings, SettingsError

SCHEMA = """CREATE TABLE IF NOT EXISTS cluster_keys (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    recorded_at TEXT NOT NULL
)"""

# Where a node finds each key, for the message that says which one differs.
WHERE = {
    "session_key": f"setting session_key (RUNSTREAM_SESSION_KEY), else {SESSION_KEY_FILE} "
                   "in the data directory",
    "secrets_key": f"setting engine.secrets_key (RUNSTREAM_ENGINE__SECRETS_KEY), else "
                   f"{SECRETS_KEY_FILE} in the data directory",
    "checkpoint_key": "setting checkpoint_key_file (RUNSTREAM_CHECKPOINT_KEY_FILE), else "
                      "checkpoint.key in the data directory",
}
FINGERPRINT_HEX = 16


class KeyMismatch(SettingsError):
    """This node's key is not the one the other nodes of its database use."""


def fingerprint(secret: bytes) -> str:
    """A short digest that tells keys apart and gives nothing of the key away."""
    return hashlib.sha256(b"runstream-key-fingerprint\n" + secret).hexdigest()[:FINGERPRINT_HEX]


def node_fingerprints(settings: Settings) -> dict[str, str]:
    """The fingerprints of this node's keys (each loaded, or made, as the app does)."""
    session = fernet_key(settings.session_key, settings.data_dir, SESSION_KEY_FILE,
                         "session_key")
    return {
        "session_key": fingerprint(session),
        "secrets_key": fingerprint(secrets_key(settings).encode()),
        # The checkpoints' own key id: what an auditor already sees beside each signature.
        "checkpoint_key": key_id(load_signing_key(settings).public_key()),
    }


@dataclass(frozen=True, slots=True)
class Difference:
    name: str
    here: str
    recorded: str

    def describe(self) -> str:
        return (f"{self.name} differs from the one this database's other nodes use "
                f"(fingerprint {self.here} here, {self.recorded} recorded); "
                f"give this node the same key ({WHERE[self.name]})")


class ClusterKeys:
    """The recorded fingerprints of the cluster's keys."""

    def __init__(self, store: TableStore) -> None:
        self.db = Tables(store)

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables([SCHEMA])

    async def check(self, fingerprints: dict[str, str]) -> None:
        """Record the fingerprints nobody recorded yet; raise KeyMismatch naming every key
        whose fingerprint differs from the recorded one."""

        async def unit(tx: Transaction) -> list[Difference]:
            now = utc_now()
            differences = []
            for name, here in sorted(fingerprints.items()):
                await tx.execute(
                    "INSERT INTO cluster_keys (name, fingerprint, recorded_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO NOTHING", (name, here, now))
                row = (await tx.execute(
                    "SELECT fingerprint FROM cluster_keys WHERE name = ?", (name,))).first()
                if row is not None and row[0] != here:
                    differences.append(Difference(name, here, str(row[0])))
            return differences

        differences = await self.db.write(unit)
        if differences:
            raise KeyMismatch(
                "this node's keys do not match its database's: "
                + "; ".join(d.describe() for d in differences)
                + ". To change a key on purpose, stop every node, give each the new key and "
                  "run `runstream keys forget NAME` once")

    async def recorded(self) -> dict[str, str]:
        rows = await self.db.fetch_all("SELECT name, fingerprint FROM cluster_keys ORDER BY name")
        return {str(name): str(value) for name, value in rows}

    async def forget(self, name: str) -> bool:
        """Drop a recorded fingerprint: the next node to start records its own."""
        return await self.db.execute("DELETE FROM cluster_keys WHERE name = ?", (name,)) > 0
