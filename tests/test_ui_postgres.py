"""`asm ui` over PostgreSQL in a real Chromium: an append of another process appears live, woken by
LISTEN/NOTIFY through the store's `subscribe`.

A module of its own: the PostgreSQL fixture creates its database with `asyncio.run`, which cannot run
once Playwright's sync API holds the thread's event loop, so the database must exist before the browser
starts (the fixtures of the only test here are set up in that order).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import Session, SessionStatus, sync
from test_ui import _APPEND, CHROMIUM, _other_process, _serve, playwright_api

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"),
]


@pytest.fixture
def pg_session(postgres_url: str) -> str:
    """An active session in the (migrated) test database."""
    store = sync.open_store(postgres_url, migrate=True)
    try:
        return str(store.save_session(Session(agent_id="pg-live", status=SessionStatus.ACTIVE)).id)
    finally:
        store.close()


@pytest.fixture
def page(pg_session: str) -> Iterator[Any]:
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_an_append_of_another_process_appears_within_two_seconds(
    postgres_url: str, pg_session: str, tmp_path: Path, page: Any
) -> None:
    where = ("--database-url", postgres_url, "--artifacts-url", f"file://{tmp_path}/artifacts")
    with contextlib.closing(_serve(tmp_path, where=where)) as servers:
        server = next(servers)
        page.goto(f"{server.url}sessions/{pg_session}")
        page.wait_for_timeout(300)
        _other_process(_APPEND, postgres_url, pg_session, "over LISTEN/NOTIFY")
        appended = time.monotonic()
        page.wait_for_selector("#seq-1", timeout=2000)
        assert time.monotonic() - appended < 2
        assert page.locator("#seq-1 .content").inner_text() == "over LISTEN/NOTIFY"
