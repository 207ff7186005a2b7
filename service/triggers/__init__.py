"""What starts runs besides a caller's own request: idempotent starts, schedules."""
