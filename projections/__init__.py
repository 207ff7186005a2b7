"""Read models fed by the event log."""

from eventstore.projector import Projector
from projections.pruned_runs import PrunedRunsProjection
from projections.run_triggers import RunTriggersProjection
from projections.runs import RunsProjection


def all_projections() -> list[Projector]:
    """Every projection the service keeps, in the order they are applied."""
    return [RunsProjection(), RunTriggersProjection(), PrunedRunsProjection()]
