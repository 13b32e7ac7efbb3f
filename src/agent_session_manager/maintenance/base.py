"""The `Maintenance` port: apply a `RetentionPolicy`, clean up orphans, check health.

`execute(policy)` runs, in order: soft delete of expired sessions, hard delete of long soft-deleted ones,
event pruning (per session, then store-wide), and orphan cleanup (artifact records whose session is gone,
with their blobs; sequence counters without a session). Each step's failure is recorded in the report's
`errors` and the next step still runs; work already committed by the failed step stays committed and is
counted. `dry_run=True` counts what each step would do and changes nothing. Maintenance never runs by
itself: call it from a scheduler (cron, a periodic task) at the rhythm you want.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from .policy import RetentionPolicy

Step = Literal["soft_delete", "hard_delete", "prune", "orphans", "expired_states"]
STEPS: tuple[Step, ...] = ("soft_delete", "hard_delete", "prune", "orphans", "expired_states")


@dataclass(frozen=True)
class MaintenanceProgress:
    """Where a running `execute` is: the step (1-based of `steps`) and the counts committed so far.

    Sent when a step starts and after every batch, to the `on_progress` callback of `execute`.
    """

    step: Step
    step_number: int
    steps: int
    counts: Mapping[str, int]


ProgressCallback = Callable[[MaintenanceProgress], None]
IssueKind = Literal[
    "events_without_session",
    "runs_without_session",
    "artifacts_without_session",
    "counter_without_session",
    "counter_behind",
]


class StepError(BaseModel):
    """A step that failed: which one, the error's stable code, and its message."""

    model_config = ConfigDict(frozen=True)

    step: Step
    code: str
    message: str


class MaintenanceReport(BaseModel):
    """What one `execute` did (or, in a dry run, would do)."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    sessions_soft_deleted: int = 0
    sessions_hard_deleted: int = 0
    events_pruned: int = 0
    events_archived: int = 0
    artifacts_cleaned: int = 0
    blobs_deleted: int = 0
    orphaned_sequences_cleaned: int = 0
    states_expired: int = 0
    duration_ms: float = 0.0
    errors: list[StepError] = []

    @property
    def ok(self) -> bool:
        return not self.errors


class HealthIssue(BaseModel):
    """One inconsistency found by `health_check`."""

    model_config = ConfigDict(frozen=True)

    kind: IssueKind
    count: int
    message: str
    session_id: str | None = None


@runtime_checkable
class Maintenance(Protocol):
    """Retention and repair for one store. Get one with `agent_session_manager.maintenance(store)`."""

    async def execute(
        self,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> MaintenanceReport:
        """Every step of `policy`, in order; `now` is the reference time (default: the clock).

        `on_progress`, if given, is called when each step starts and after each batch.
        """
        ...

    async def soft_delete_expired_sessions(
        self, policy: RetentionPolicy, *, dry_run: bool = False, now: datetime | None = None
    ) -> int:
        """Mark expired sessions deleted (`deleted_at`); returns how many."""
        ...

    async def hard_delete_expired_sessions(
        self, policy: RetentionPolicy, *, dry_run: bool = False, now: datetime | None = None
    ) -> int:
        """Remove sessions soft-deleted longer than `hard_delete_after_days`; returns how many."""
        ...

    async def prune_session_events(
        self, session_id: str, policy: RetentionPolicy, *, dry_run: bool = False
    ) -> int:
        """Prune one session down to `max_events_per_session` (the session is named, so exemptions do
        not apply); returns the number of events removed."""
        ...

    async def clean_orphaned_artifacts(self, *, dry_run: bool = False) -> int:
        """Remove artifact records whose session is gone, and their blobs; returns records removed."""
        ...

    async def health_check(self) -> list[HealthIssue]:
        """Inconsistencies: rows whose session is gone, counters missing or behind the highest sequence."""
        ...
