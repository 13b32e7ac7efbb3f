"""`asm import --from langgraph-sqlite://` / `langgraph-postgres://`: a stock saver's threads move into our
store, and the graph resumed on the imported thread continues exactly as it would have on the stock saver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from agent_session_manager import sync
from agent_session_manager.core.errors import AlreadyExists, ValidationError
from agent_session_manager.integrations.langgraph import ASMSaver
from agent_session_manager.integrations.langgraph.importer import import_langgraph
from test_cli import invoke
from test_langgraph_graph import CONFIG, THREAD, build, first_part, second_part, snapshot


def _sqlite_source(tmp_path: Path) -> tuple[str, AbstractContextManager[Any]]:
    path = tmp_path / "stock.db"
    return f"langgraph-sqlite://{path}", SqliteSaver.from_conn_string(str(path))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def source(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, AbstractContextManager[Any]]]:
    if request.param == "sqlite":
        yield _sqlite_source(tmp_path)
        return
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    base: str = request.getfixturevalue("postgres_url")
    name = f"lg_stock_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + f"/{name}"
    with PostgresSaver.from_conn_string(url) as stock:
        stock.setup()
    try:
        yield "langgraph-postgres://" + url.split("://", 1)[1], PostgresSaver.from_conn_string(url)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_import_then_resume(source: tuple[str, AbstractContextManager[Any]], tmp_path: Path) -> None:
    url, stock_context = source
    target = f"sqlite:///{tmp_path / 'asm.db'}"
    with stock_context as stock:
        stock_graph = build(stock)
        first_part(stock_graph, interrupt_at=4)  # stops at the tool's interrupt
        interrupted = snapshot(stock_graph, history=True)

        assert invoke(["--database-url", target, "db", "upgrade"]).returncode == 0
        done = invoke(["--database-url", target, "import", "--from", url])
        assert done.returncode == 0, done.stderr
        assert "imported 1 LangGraph threads" in done.stdout

        with ASMSaver.from_url(target) as saver:
            graph = build(saver)
            assert snapshot(graph, history=True) == interrupted
            assert list(saver.list_threads()) == [THREAD]
            second_part(graph, interrupt_at=4, turns=8)
            ours = snapshot(graph, history=True)
        second_part(stock_graph, interrupt_at=4, turns=8)
        assert ours == snapshot(stock_graph, history=True)
        assert graph is not None and ours["values"][-1]["content"].startswith("answer")

        again = invoke(["--database-url", target, "import", "--from", url])
        assert again.returncode != 0 and "already_exists" in again.stderr


def test_import_errors(tmp_path: Path) -> None:
    store = sync.portal().open_store("memory://")
    try:
        with pytest.raises(ValidationError):
            store.portal.call(import_langgraph, store.wrapped, "langgraph-mysql://x/y")
        with pytest.raises(ValidationError):
            store.portal.call(
                import_langgraph, store.wrapped, f"langgraph-sqlite://{tmp_path / 'missing.db'}"
            )
        url, stock_context = _sqlite_source(tmp_path)
        with stock_context as stock:
            build(stock).invoke({"messages": [("user", "hi")]}, CONFIG)
        store.portal.call(import_langgraph, store.wrapped, url)
        with pytest.raises(AlreadyExists):
            store.portal.call(import_langgraph, store.wrapped, url)
    finally:
        store.close()
    done = invoke(["import"])
    assert done.returncode != 0 and "validation_error" in done.stderr
