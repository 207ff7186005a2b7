"""Checking the hash chain, link by link: one walk for every backend."""

from __future__ import annotations

from collections.abc import Callable

from eventstore.hashchain import GENESIS_HASH, canonical_bytes, chain_hash
from eventstore.interface import VerifyResult
from eventstore.records import RecordedEvent

# Told (events checked, the log's head) after each page of a walk: a command's progress.
OnProgress = Callable[[int, int], None]


class ChainCheck:
    """Fed the log in position order; names the first link that does not hold."""

    def __init__(self) -> None:
        self.prev = GENESIS_HASH
        self.expected_position = 1
        self.checked = 0

    def check(self, event: RecordedEvent) -> VerifyResult | None:
        """None while the chain holds up to `event`; the failure otherwise."""
        expected = self.expected_position
        if event.position != expected:
            return VerifyResult(self.checked, event.position, expected,
                                f"position {expected} is missing")
        if event.prev_hash != self.prev:
            return VerifyResult(self.checked, event.position, event.position,
                                "prev_hash does not match the previous event's hash")
        digest = chain_hash(self.prev, canonical_bytes(
            event.position, event.stream, event.version, event.type, event.data,
            event.recorded_at))
        if digest != event.hash:
            return VerifyResult(self.checked, event.position, event.position,
                                "hash does not match the event's content")
        self.prev = digest
        self.checked += 1
        self.expected_position += 1
        return None

    def finish(self, recorded_head: int) -> VerifyResult:
        """The newest events leave no successor to break: `recorded_head`, written in the
        same transactions as the events (projection checkpoints, a head row), says how far
        the log reached, so a cut-off tail is found too."""
        checked = self.checked
        if recorded_head > checked:
            return VerifyResult(checked, checked, checked + 1,
                                f"events after {checked} are missing: the log reached "
                                f"{recorded_head}")
        return VerifyResult(checked, self.expected_position - 1)
