"""After a prune, a change to a pruned header, an archived line or a kept event is found
at its position."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from eventstore.sqlite import verify_file
from service.retention.archives import check_archives
from service.retention.pruner import Pruner
from tests.retention.runs import add_runs, open_store, query, write
from tests.support.auth import make_settings


async def pruned_log(data_dir: Path) -> tuple[list[int], list[int], Path]:
    """Pruned positions, kept positions, and the archive."""
    store = await open_store(data_dir)
    await add_runs(store, 4)
    await add_runs(store, 2)
    report = await Pruner(store, make_settings(data_dir, retention_max_runs=2)).prune()
    await store.close()
    pruned = [row[0] for row in query(
        data_dir, "SELECT position FROM events WHERE length(data) = 0 ORDER BY position")]
    kept = [row[0] for row in query(
        data_dir, "SELECT position FROM events WHERE length(data) > 0 ORDER BY position")]
    return pruned, kept, data_dir / "archive" / report.archives[0]


async def test_a_changed_hash_between_pruned_headers_breaks_the_link_after_it(
        tmp_path: Path) -> None:
    pruned, _, _ = await pruned_log(tmp_path)
    # Neither header's hash can be recomputed, so the broken link is named (at the later
    # one) and the reason says that either side may have changed.
    target = next(p for p in pruned if p + 1 in pruned)
    write(tmp_path, "UPDATE events SET hash = ? WHERE position = ?", ("f" * 64, target))
    result = verify_file(tmp_path / "runstream.db")
    assert result.first_bad_position == target + 1
    assert "both are pruned" in (result.reason or "")


async def test_a_changed_prev_hash_of_a_pruned_header_is_found_at_its_position(
        tmp_path: Path) -> None:
    pruned, _, _ = await pruned_log(tmp_path)
    target = pruned[3]
    write(tmp_path, "UPDATE events SET prev_hash = ? WHERE position = ?", ("e" * 64, target))
    assert verify_file(tmp_path / "runstream.db").first_bad_position == target


async def test_the_last_pruned_header_before_a_kept_event_is_covered(tmp_path: Path) -> None:
    pruned, kept, _ = await pruned_log(tmp_path)
    # The newest pruned header whose successor is kept: that successor's content hash
    # covers its prev_hash, so the change is pinned on the pruned header.
    target = max(p for p in pruned if p + 1 in kept)
    write(tmp_path, "UPDATE events SET hash = ? WHERE position = ?", ("a" * 64, target))
    result = verify_file(tmp_path / "runstream.db")
    assert result.first_bad_position == target
    assert "pruned" in (result.reason or "")


async def test_a_changed_kept_event_is_found_at_its_position(tmp_path: Path) -> None:
    _, kept, _ = await pruned_log(tmp_path)
    target = kept[2]
    write(tmp_path, "UPDATE events SET data = ? WHERE position = ?", (b'{"x":1}', target))
    assert verify_file(tmp_path / "runstream.db").first_bad_position == target


async def test_a_changed_archived_line_is_found_at_its_position(tmp_path: Path) -> None:
    _, _, archive = await pruned_log(tmp_path)
    lines = gzip.decompress(archive.read_bytes()).splitlines()
    event = orjson.loads(lines[5])
    event["data"]["output"] = {"changed": True}
    lines[5] = orjson.dumps(event)
    archive.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    (result,) = check_archives(tmp_path / "runstream.db", [archive])
    assert not result.ok
    assert result.first_bad_position == event["position"]
    assert result.line == 6
    assert result.reason == "hash does not match the archived event's content"


async def test_an_archive_from_another_log_is_refused(tmp_path: Path) -> None:
    _, _, archive = await pruned_log(tmp_path / "one")
    await pruned_log(tmp_path / "two")
    (result,) = check_archives(tmp_path / "two" / "runstream.db", [archive])
    assert not result.ok
    assert result.line == 1
    assert result.reason == "the live log keeps another header at this position"
