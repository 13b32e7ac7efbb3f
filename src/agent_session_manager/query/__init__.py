"""Cross-session queries: search, statistics, usage and cost, export and import.

`query_api(store)` returns the `QueryAPI` a store provides (its `query_api()` method); see `query.base`
for the contract and `query.export` for the export format.
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
    """The `QueryAPI` of `store`, as the store itself provides it.

    A store offers a query API by defining a `query_api()` method that returns one: the memory store
    gives `MemoryQueryAPI`, the SQL stores `SQLQueryAPI` (filters run in the database), a composite store
    its session store's, a sync store (`sync.open_store`) a blocking twin of its async store's. A
    third-party store (`register_session_backend`) opts in the same way, e.g. by returning a
    `KeysetQueryAPI` subclass of its own.

    Args:
        store: an open session store.

    Returns:
        The store's `QueryAPI`.

    Raises:
        ValidationError: the store provides no query API.

    Example:
        >>> api = query_api(await open_store("memory://"))  # doctest: +SKIP
        >>> page = await api.search_sessions(agent_id="support-bot")  # doctest: +SKIP
    """
    provide = getattr(store, "query_api", None)
    if not callable(provide):
        raise ValidationError(
            f"{type(store).__name__} provides no QueryAPI (a store offers one with a query_api() method)",
            details={"store": type(store).__name__},
        )
    api: QueryAPI = provide()
    return api


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
