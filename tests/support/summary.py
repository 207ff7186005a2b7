"""One-line figures that tests report (kills survived, inputs tried, ...), printed at the end of
the run by the root conftest so that `make test` shows them even though output is captured."""

from __future__ import annotations

SUMMARY_LINES: list[str] = []


def report_summary(line: str) -> None:
    """Record a line for the end-of-run summary."""
    SUMMARY_LINES.append(line)
