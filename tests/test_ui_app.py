"""The `asm ui` application in process (no browser): what every response carries, what it never shows,
and the requests it refuses. The browser tests (`test_ui.py`) cover the pages themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from agent_session_manager import Event, EventType, Session
from agent_session_manager.composite import open_composite_store
from agent_session_manager.core.errors import ValidationError
from agent_session_manager.open import open_snapshot_storage
from agent_session_manager.ui import Stores, UIConfig, create_app
from agent_session_manager.ui.security import check_bind

SECRET = "hunter2-very-secret"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The application over memory stores, configured with URLs that hold secrets."""
    async with (
        await open_composite_store("memory://", "memory://") as store,
        await open_snapshot_storage(f"file://{tmp_path}") as snapshots,
    ):
        session = await store.save_session(Session(agent_id="a"))
        await store.append_event(
            Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"content": "hi"})
        )
        config = UIConfig(
            database_url=f"postgresql://asm:{SECRET}@db.example/asm",
            artifacts_url=f"s3://bucket/p?endpoint=http://127.0.0.1:1&secret_access_key={SECRET}",
            snapshots_url=f"file://{tmp_path}",
        )
        app = create_app(config, Stores(store, snapshots))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            client.headers["x-session"] = session.id
            yield client


async def test_pages_mask_credentials_and_carry_the_security_headers(client: httpx.AsyncClient) -> None:
    session_id = client.headers["x-session"]
    for path in ("/sessions", f"/sessions/{session_id}", "/usage", "/artifacts", "/maintenance", "/nope"):
        response = await client.get(path)
        assert response.status_code == (404 if path == "/nope" else 200), path
        assert SECRET not in response.text
        assert "postgresql://asm:***@db.example/asm" in response.text
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_without_a_token_only_a_loopback_host_is_answered(client: httpx.AsyncClient) -> None:
    """A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding) gets nothing."""
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example"):
        response = await client.get("/sessions", headers={"host": host})
        assert response.status_code == 400, host
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
        assert (await client.get("/sessions", headers={"host": host})).status_code == 200, host


async def test_bad_query_values_are_400_pages_with_their_code(client: httpx.AsyncClient) -> None:
    session_id = client.headers["x-session"]
    for path in (
        f"/sessions/{session_id}?after=-1",
        f"/sessions/{session_id}?type=Not-A-Type",
        "/sessions?order=sideways",
        "/sessions?status=sleepy",
        "/sessions?since=yesterday-ish",
        "/sessions?cursor=forged",
        "/usage?since=2000-01-01",
    ):
        response = await client.get(path)
        assert response.status_code == 400, path
        assert "validation_error" in response.text or "invalid_" in response.text, path


async def test_an_event_raw_json_is_served_by_sequence_number(client: httpx.AsyncClient) -> None:
    session_id = client.headers["x-session"]
    raw = await client.get(f"/sessions/{session_id}/raw/1")
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
    assert raw.json()["data"] == {"content": "hi"} and raw.json()["sequence_number"] == 1
    assert (await client.get(f"/sessions/{session_id}/raw/2")).status_code == 404
    assert (await client.get("/sessions/ses_missing/raw/1")).status_code == 404


def test_check_bind() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"):
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.org"):
        with pytest.raises(ValidationError, match="a token is required"):
            check_bind(host, None)
        check_bind(host, "t")
    with pytest.raises(ValidationError, match="must not be empty"):
        check_bind("0.0.0.0", "")
