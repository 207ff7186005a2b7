"""A retention policy: how long, how many runs and how many bytes a workspace keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.settings import Settings


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """None in a field means no limit of that kind; all None prunes nothing."""

    max_age_days: float | None = None
    max_runs: int | None = None
    max_bytes: int | None = None

    @property
    def limits_anything(self) -> bool:
        return any(v is not None for v in (self.max_age_days, self.max_runs, self.max_bytes))

    def as_dict(self) -> dict[str, Any]:
        return {"maxAgeDays": self.max_age_days, "maxRuns": self.max_runs,
                "maxBytes": self.max_bytes}


def default_policy(settings: Settings) -> RetentionPolicy:
    """The service-wide default of the settings (0 there means no limit)."""
    return RetentionPolicy(settings.retention_max_age_days or None,
                           settings.retention_max_runs or None,
                           settings.retention_max_bytes or None)
