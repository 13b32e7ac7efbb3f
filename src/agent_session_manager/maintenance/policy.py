"""`RetentionPolicy`: what maintenance removes, and when. Every field does what its name says.

Each field acts (none is validated and then ignored):

* `max_session_age_days`: soft-delete sessions created more than N days ago (any status).
* `max_completed_session_age_days`: soft-delete sessions in a final status (completed, failed,
  cancelled) whose last update, i.e. their ending, is more than N days ago.
* `hard_delete_after_days`: remove sessions soft-deleted more than N days ago, for good, with their runs,
  events, counter, artifact records and (when maintenance has an artifact store) the blobs.
* `max_events_per_session`: prune each session's oldest events down to N.
* `max_total_events`: then prune the oldest events (by timestamp) of the whole store down to N; events of
  exempt sessions count but stay, events whose session is gone may be taken.
* `prune_event_types_first`: pruning takes these types first (oldest first), then any other type that is
  not protected. Protected types (`PROTECTED_EVENT_TYPES`: session_created, run_started, run_completed,
  run_failed, error_occurred) are never pruned, and neither are namespaced types (`langgraph.checkpoint`:
  an integration's own records, which it prunes itself, e.g. LangGraph's `prune`), so a session may stay
  above a cap when only they remain.
* `archive_before_prune` + `archive_store`: each batch of pruned events is written to the archive
  `ArtifactStore` as JSON Lines (the export format) before it is deleted, under
  `<archive_prefix>/<session_id>/<first seq>-<last seq>-<digest of the first event id>.jsonl`.
* `exempt_statuses` / `exempt_tags`: sessions in one of these statuses, or carrying one of these tags, are
  neither soft-deleted nor pruned. A session already soft-deleted is past protection: hard delete follows
  `hard_delete_after_days` alone.
* Whatever the policy, state documents whose value has a top-level `expires_at` (ISO-8601 with a time
  zone) in the past are deleted (LangGraph's `ASMStore` writes it for items with a TTL).
* `batch_size`: rows per transaction; every batch commits on its own, so live writers never wait long.

`None` means "no limit". `batch_size` defaults to 1,000: a million pruned events are a thousand short
transactions.
Invalid values raise `validation_error` naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..core.errors import ValidationError
from ..core.keys import validate_key
from ..core.models import EventType, Record, SessionStatus

#: Event types that pruning never removes: the skeleton of a session's history.
PROTECTED_EVENT_TYPES = frozenset(
    {
        EventType.SESSION_CREATED,
        EventType.RUN_STARTED,
        EventType.RUN_COMPLETED,
        EventType.RUN_FAILED,
        EventType.ERROR_OCCURRED,
    }
)
MAX_BATCH_SIZE = 10_000


def is_protected(event_type: str) -> bool:
    """Whether pruning leaves events of this type: a protected core type, or any namespaced type (an
    integration's own records: removing some of them could break what it rebuilds from the rest)."""
    return event_type in PROTECTED_EVENT_TYPES or "." in event_type


class RetentionPolicy(Record):
    """A retention policy; build it with keywords, e.g. `RetentionPolicy(max_events_per_session=10_000)`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    max_session_age_days: int | None = Field(default=None, ge=1, strict=True)
    max_completed_session_age_days: int | None = Field(default=90, ge=1, strict=True)
    max_events_per_session: int | None = Field(default=None, ge=1, strict=True)
    max_total_events: int | None = Field(default=None, ge=1, strict=True)
    hard_delete_after_days: int | None = Field(default=30, ge=1, strict=True)
    archive_before_prune: bool = Field(default=False, strict=True)
    archive_store: Any = None
    archive_prefix: str = "asm-archive/events"
    exempt_statuses: frozenset[SessionStatus] = frozenset({SessionStatus.ACTIVE, SessionStatus.PAUSED})
    exempt_tags: frozenset[str] = frozenset({"pinned"})
    prune_event_types_first: tuple[EventType, ...] = (
        EventType.MESSAGE_STREAMED,
        EventType.TOKEN_USAGE_UPDATED,
    )
    batch_size: int = Field(default=1000, ge=1, le=MAX_BATCH_SIZE, strict=True)

    @field_validator("archive_prefix", mode="after")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        return validate_key(value.strip("/"), "archive_prefix")

    @field_validator("exempt_tags", mode="after")
    @classmethod
    def _check_tags(cls, value: frozenset[str]) -> frozenset[str]:
        if any(not tag for tag in value):
            raise ValueError("tags must be non-empty strings")
        return value

    @field_validator("prune_event_types_first", mode="after")
    @classmethod
    def _check_types(cls, value: tuple[EventType, ...]) -> tuple[EventType, ...]:
        protected = sorted(t.value for t in set(value) & PROTECTED_EVENT_TYPES)
        if protected:
            raise ValueError(f"protected event types are never pruned: {', '.join(protected)}")
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check_archive(self) -> RetentionPolicy:
        if self.archive_before_prune and self.archive_store is None:
            raise ValidationError(
                "archive_before_prune needs an archive_store (an ArtifactStore)",
                details={"field": "archive_store"},
            )
        if self.archive_store is not None and not self.archive_before_prune:
            raise ValidationError(
                "archive_store is set but archive_before_prune is False; set both to archive",
                details={"field": "archive_before_prune"},
            )
        if self.archive_store is not None and not callable(getattr(self.archive_store, "put", None)):
            raise ValidationError(
                "archive_store must be an ArtifactStore (it has no put method)",
                details={"field": "archive_store"},
            )
        return self
