"""Read models fed by the event log."""

from projections.runs import RunsProjection


def all_projections() -> list[RunsProjection]:
    """Every projection the service keeps, in the order they are applied."""
    return [RunsProjection()]
