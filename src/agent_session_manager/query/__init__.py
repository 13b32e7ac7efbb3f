"""Cross-session queries: search, statistics, usage and cost, export and import.

`query_api(store)` returns the `QueryAPI` for a store's backend (memory or SQL); see `query.base` for the
contract and `query.export` for the export format.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ValidationError
from .base import (
    CostSummary,
    EventOrder,
    QueryAPI,
    RunOrder,
    SessionOrder,
    SessionPage,
    SessionStats,
    TokenTotals,
    UsageSummary,
    UsageTotals,
)
from .export import (
    ImportResult,
    SessionExport,
    export_session,
    export_session_json,
    import_session,
    stream_session_jsonl,
)


def query_api(store: Any) -> QueryAPI:
    """The `QueryAPI` for `store` (an open session store, or a `CompositeSessionStore` wrapping one).

    Memory stores get `MemoryQueryAPI`; SQLite and PostgreSQL stores get `SQLQueryAPI`, whose filters run
    in the database. Other stores raise `validation_error`.
    """
    from ..sessions.memory import InMemorySessionStore
    from ..sessions.sql.store import SQLSessionStore

    inner = session_store_of(store)
    if isinstance(inner, InMemorySessionStore):
        from .memory import MemoryQueryAPI

        return MemoryQueryAPI(inner)
    if isinstance(inner, SQLSessionStore):
        from .sql import SQLQueryAPI

        return SQLQueryAPI(inner)
    raise ValidationError(
        f"no QueryAPI for a {type(inner).__name__}; supported: memory, SQLite and PostgreSQL stores",
        details={"store": type(inner).__name__},
    )


def session_store_of(store: Any) -> Any:
    """The session store behind a `CompositeSessionStore` (or `store` itself)."""
    from ..composite import CompositeSessionStore

    return store.sessions if isinstance(store, CompositeSessionStore) else store


__all__ = [
    "CostSummary",
    "EventOrder",
    "ImportResult",
    "QueryAPI",
    "RunOrder",
    "SessionExport",
    "SessionOrder",
    "SessionPage",
    "SessionStats",
    "TokenTotals",
    "UsageSummary",
    "UsageTotals",
    "export_session",
    "export_session_json",
    "import_session",
    "query_api",
    "stream_session_jsonl",
]
