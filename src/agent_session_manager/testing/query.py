"""The `QueryAPI` contract suite: memory, SQLite, PostgreSQL and third-party backends pass the same tests.

Use it with pytest and pytest-asyncio (`asyncio_mode = "auto"`)::

    from agent_session_manager.testing import QueryAPIContract

    class TestMyQueries(QueryAPIContract):
        async def new_store(self):
            return await MyStore.connect(...)   # connected and EMPTY

`query_api(store)` picks the implementation; override `make_query_api` to test another one. Searches are
checked against an independent oracle (plain Python over the objects the test wrote): every order, paged
with small limits, must list exactly the matching rows once each, in order, ties included.

The tests live in one module per capability, composed here: `query_search`, `query_summaries` and
`query_export`, over the corpus and fixtures of `query_corpus`.
"""

from __future__ import annotations

from .query_export import ExportContract
from .query_search import SearchContract
from .query_summaries import SummaryContract


class QueryAPIContract(SearchContract, SummaryContract, ExportContract):
    """Subclass in a test module and implement `new_store`."""
