"""Checking the hash chain, link by link: one walk for every backend."""

from __future__ import annotations

from collections.abc import Callable

from eventstore.hashchain import GENESIS_HASH, canonical_bytes, chain_hash
from eventstore.interface import VerifyResult
from eventstore.lost_history import stated_hole
from eventstore.records import RecordedEvent

# Told (the position reached, the log's head) after each page of a walk: a command's
# progress (positions, not events: a restore leaves a hole of positions, lost_history.py).
OnProgress = Callable[[int, int], None]


class ChainCheck:
    """Fed the log in position order; names the first link that does not hold."""

    def __init__(self) -> None:
        self.prev = GENESIS_HASH
        self.expected_position = 1
        self.checked = 0
        self.pruned = 0  # of `checked`, the headers whose data retention removed
        self.prev_pruned = False
        self.prev_position = 0

    def check(self, event: RecordedEvent) -> VerifyResult | None:
        """None while the chain holds up to `event`; the failure otherwise.

        A kept event is checked against its content. A pruned one (retention kept only its
        header) can only be checked by its links: its prev_hash must be the hash before it,
        and its own hash is what the next event's prev_hash (covered by that event's
        content hash, once a kept one follows) must name.
        """
        expected = self.expected_position
        hole = stated_hole(event)
        if hole is not None and hole != (expected, event.position - 1):
            # A restore skips positions only where its mark says so, exactly.
            return VerifyResult(self.checked, event.position, event.position,
                                "the restore mark does not match the positions it skips")
        if event.position != expected and hole is None:
            return VerifyResult(self.checked, event.position, expected,
                                f"position {expected} is missing")
        digest = None if event.pruned else chain_hash(event.prev_hash, canonical_bytes(
            event.position, event.stream, event.version, event.type, event.data,
            event.recorded_at))
        if event.prev_hash != self.prev:
            if self.prev_pruned and digest == event.hash:
                # This event's content proves its prev_hash: the pruned header before it
                # is the one that changed.
                return VerifyResult(self.checked - 1, self.prev_position, self.prev_position,
                                    "the pruned event's hash does not match the next "
                                    "event's prev_hash")
            reason = "prev_hash does not match the previous event's hash"
            if self.prev_pruned and event.pruned:
                reason += " (both are pruned: either header may have changed)"
            return VerifyResult(self.checked, event.position, event.position, reason)
        if digest is not None and digest != event.hash:
            return VerifyResult(self.checked, event.position, event.position,
                                "hash does not match the event's content")
        self.prev = event.hash
        self.prev_pruned = event.pruned
        self.checked += 1
        if event.pruned:
            self.pruned += 1
        self.prev_position = event.position
        self.expected_position = event.position + 1
        return None

    def finish(self, recorded_head: int) -> VerifyResult:
        """The newest events leave no successor to break: `recorded_head`, written in the
        same transactions as the events (projection checkpoints, a head row), says how far
        the log reached, so a cut-off tail is found too."""
        checked, reached = self.checked, self.expected_position - 1
        if recorded_head > reached:
            return VerifyResult(checked, reached, reached + 1,
                                f"events after {reached} are missing: the log reached "
                                f"{recorded_head}")
        return VerifyResult(checked, reached, head_hash=self.prev)
