"""`asm ui` in a real headless Chromium (Debian's `/usr/bin/chromium`, driven by Playwright).

One browser and two servers for the whole module: `asm ui` started as a user would (the real entry point,
uvicorn, a SQLite store filled by `asm demo` and by the sync facade), read-only on loopback, and a second
one with `--token` and `--allow-writes`. Other processes append to the store while the browser watches.
The tests save the README's screenshots to `docs/screenshots/`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from agent_session_manager import Event, EventType, Session, SessionStatus, sync
from agent_session_manager.demo import REPLY
from agent_session_manager.open import open_snapshot_storage
from agent_session_manager.snapshots import Snapshot, SnapshotLocation, new_snapshot_id
from test_cli import clean_env

playwright_api = pytest.importorskip("playwright.sync_api")

ASM = Path(sys.executable).with_name("asm")
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
TOKEN = "s3cret-token-for-tests"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
#: Sessions of the agent `pager`: more than one page of the list (50).
PAGED = 60
#: Events of the long session: three timeline pages (100 each).
LONG = 250

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")


@dataclass
class Stores:
    """The directory `asm demo` ran in, with what the fixtures stored there."""

    cwd: Path
    database_url: str
    demo_id: str
    xss_id: str
    long_id: str
    active_id: str
    run_ids: list[str]


def _asm(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ASM), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    cwd = tmp_path_factory.mktemp("ui")
    done = _asm(cwd, "demo")
    assert done.returncode == 0, done.stderr
    demo_id = done.stdout.split()[1]
    url = f"sqlite:///{cwd}/.asm/asm.db"
    store = sync.open_store(url)
    try:
        for i in range(PAGED):
            store.save_session(
                Session(agent_id="pager", user_id=f"user-{i % 3}", tags=["paged", f"n{i % 2}"])
            )
        xss = store.save_session(Session(agent_id="xss", metadata={"note": XSS}, tags=["xss"]))
        store.append_events(
            [
                Event(type=EventType.MESSAGE_SENT, session_id=xss.id, data={"role": "user", "content": XSS}),
                Event(
                    type=EventType.TOOL_CALL_STARTED,
                    session_id=xss.id,
                    data={"tool_call_id": "c1", "tool_name": XSS, "tool_input": {XSS: XSS}},
                ),
                Event(type=EventType.ERROR_OCCURRED, session_id=xss.id, data={"error_message": XSS}),
                Event(type="acme.step", session_id=xss.id, data={"step": XSS}),
            ]
        )
        long = store.save_session(Session(agent_id="long"))
        runs = [_run(store, long.id, model) for model in ("model-a", "model-b")]
        store.append_events(
            [
                Event(
                    type=EventType.TOOL_CALL_STARTED if i % 10 == 0 else EventType.MESSAGE_STREAMED,
                    session_id=long.id,
                    run_id=runs[i % 2],
                    data={"content": f"chunk {i + 1}", "tool_call_id": f"t{i}", "tool_name": "lookup"},
                )
                for i in range(LONG)
            ]
        )
        active = store.save_session(Session(agent_id="live", status=SessionStatus.ACTIVE))
    finally:
        store.close()
    _second_snapshot(cwd, demo_id)
    png = cwd / "chart.png"
    png.write_bytes(_PNG)
    put = _asm(cwd, "artifacts", "put", f"demo/{demo_id}/chart.png", str(png), "--session", demo_id)
    assert put.returncode == 0, put.stderr
    return Stores(cwd, url, demo_id, xss.id, long.id, active.id, runs)


def _run(store: sync.SyncStore, session_id: str, model: str) -> str:
    from agent_session_manager import Run

    run = store.save_run(Run(session_id=session_id, provider="openai", provider_metadata={"model": model}))
    return str(run.id)


def _second_snapshot(cwd: Path, session_id: str) -> None:
    """A second history entry for the demo agent, with one message more, to diff against the first."""

    async def go() -> None:
        async with await open_snapshot_storage(f"file://{cwd}/.asm/snapshots") as storage:
            where = SnapshotLocation(session_id=session_id, scope="agent", scope_id="support-bot")
            latest = await storage.load_snapshot(where)
            assert latest is not None
            messages = [*latest.data["messages"], {"role": "user", "content": "thanks!"}]
            changed = Snapshot(scope="agent", data={"messages": messages}, app_data=latest.app_data)
            await storage.save_snapshot(where, new_snapshot_id(), False, changed)

    asyncio.run(go())


#: A 1x1 PNG.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e5270de40000000049454e44ae426082"
)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


def _serve(cwd: Path, *options: str, where: tuple[str, ...] = ()) -> Iterator[Server]:
    """`asm [where] ui --port 0 ...` as a user starts it; the address is the one it prints. Stopped by
    PID."""
    process = subprocess.Popen(
        [str(ASM), *where, "ui", "--port", "0", *options],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline().decode() if ready else ""
    found = re.search(r"http://\S+/", line)
    if found is None:
        process.kill()
        pytest.fail(f"asm ui did not start: {line!r} {process.stderr.read() if process.stderr else b''!r}")
    try:
        yield Server(found.group(0), process)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(stores: Stores) -> Iterator[Server]:
    yield from _serve(stores.cwd)


@pytest.fixture(scope="module")
def writable(stores: Stores) -> Iterator[Server]:
    yield from _serve(stores.cwd, "--token", TOKEN, "--allow-writes")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    try:
        yield opened
    finally:
        context.close()


def _sequences(page: object) -> list[int]:
    return [int(s) for s in page.eval_on_selector_all("#timeline > li", "els => els.map(e => e.dataset.seq)")]  # type: ignore[attr-defined]


# -- the list and the timeline -------------------------------------------------------------------------


def test_demo_session_in_the_list_and_every_event_in_order(stores: Stores, server: Server, page) -> None:
    page.goto(server.url)
    assert page.url.endswith("/sessions")
    page.goto(f"{server.url}sessions?order=created_at_asc")  # the demo session first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sessions.png"))
    page.goto(f"{server.url}sessions?tag=demo")
    row = page.locator(f"#row-{stores.demo_id}")
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[1:5] == ["support-bot", "", "completed", "demo"]
    assert cells[5:9] == ["12", "1", "908", "0.003876"]  # events, runs, tokens, cost

    row.locator("a").first.click()
    page.wait_for_url(f"**/sessions/{stores.demo_id}")
    store = sync.open_store(stores.database_url)
    try:
        stored = store.get_events(stores.demo_id)
    finally:
        store.close()
    assert len(stored) == 12
    assert _sequences(page) == [e.sequence_number for e in stored] == list(range(1, 13))
    shown = page.eval_on_selector_all(
        "#timeline > li", "els => els.map(e => [e.dataset.type, e.querySelector('.eid').textContent])"
    )
    assert shown == [[e.type.value, e.id] for e in stored]
    # Type-specific rendering: the tool call carries its result, the message is a bubble, tokens are chips.
    call = page.locator("#timeline li.kind-tool_call")
    assert "billing.list_invoices" in call.inner_text()
    assert "INV-301-dup" in call.locator(".result").inner_text()
    assert "duplicate charge" in page.locator(".bubble.role-assistant").inner_text()
    assert "812" in page.locator("li.kind-tokens .chips").inner_text()
    head = page.locator("dl.facts").inner_text()
    assert "support-bot" in head and "812 / 96 / 908" in head and "0.003876" in head
    assert "claude-sonnet-4" in page.locator("#runs").inner_text()
    page.evaluate("document.getElementById('seq-2').scrollIntoView()")  # the conversation
    page.screenshot(path=str(SCREENSHOTS / "session.png"))
    page.locator("#timeline li").first.locator("details summary").click()  # fetched on expansion
    raw = page.locator("#timeline li").first.locator("details pre")
    playwright_api.expect(raw).to_contain_text(stored[0].id)
    assert json.loads(raw.inner_text()) == json.loads(json.dumps(stored[0].to_dict(), default=str))


def test_session_filters_and_keyset_paging(stores: Stores, server: Server, page) -> None:
    page.goto(f"{server.url}sessions?agent=pager&order=created_at_asc")
    first = page.eval_on_selector_all("#sessions tbody tr", "rows => rows.map(r => r.dataset.session)")
    assert len(first) == 50
    page.click("#next-page")
    second = page.eval_on_selector_all("#sessions tbody tr", "rows => rows.map(r => r.dataset.session)")
    assert len(second) == PAGED - 50 and not set(first) & set(second)
    assert first + second == sorted(first + second)  # ids sort by creation: created_at_asc holds
    assert page.locator("#next-page").count() == 0
    page.click("#first-page")
    assert page.eval_on_selector_all("#sessions tbody tr", "rows => rows.length") == 50

    page.goto(f"{server.url}sessions")
    page.fill("input[name=tag]", "paged n1")
    page.select_option("select[name=status]", ["pending"])
    page.click("#session-filters button[type=submit]")
    agents = page.eval_on_selector_all("#sessions tbody tr td:nth-child(2)", "c => c.map(x => x.textContent)")
    assert agents == ["pager"] * (PAGED // 2)
    page.fill("input[name=user]", "user-1")
    page.click("#session-filters button[type=submit]")
    users = page.eval_on_selector_all("#sessions tbody tr td:nth-child(3)", "c => c.map(x => x.textContent)")
    assert users == ["user-1"] * (PAGED // 6)  # tags paged+n1, pending, user-1: i odd and i % 3 == 1
    page.click(f"#row-{page.locator('#sessions tbody tr').first.get_attribute('data-session')} a")
    assert "user-1" in page.locator("dl.facts").inner_text()
    page.goto(f"{server.url}sessions?status=completed")
    assert page.locator(f"#row-{stores.demo_id}").count() == 1
    assert page.locator("#sessions tbody tr").count() == 1
    page.goto(f"{server.url}sessions?since=2000-01-01&until=2000-12-31")
    assert page.locator("#sessions tbody tr").count() == 0


def test_timeline_paging_filters_and_deep_links(stores: Stores, server: Server, page) -> None:
    page.goto(f"{server.url}sessions/{stores.long_id}")
    assert _sequences(page) == list(range(1, 101))
    page.click("#next-page")
    assert _sequences(page) == list(range(101, 201))
    page.click("#next-page")
    assert _sequences(page) == list(range(201, LONG + 1))
    assert page.locator("#next-page").count() == 0
    page.click("#previous-page")  # backwards from the first event shown: the newest before it
    assert _sequences(page) == list(range(101, 201))
    page.click("#last-page")
    assert _sequences(page) == list(range(LONG - 99, LONG + 1))
    assert page.locator("#live-state").count() == 1 and page.locator("#next-page").count() == 0
    page.click("#previous-page")
    assert _sequences(page) == list(range(LONG - 199, LONG - 99))
    page.click("#first-page")
    assert _sequences(page) == list(range(1, 101)) and page.locator("#previous-page").count() == 0

    page.goto(f"{server.url}sessions/{stores.long_id}")
    page.select_option("select[name=type]", ["tool_call_started"])
    page.select_option("select[name=run]", stores.run_ids[0])
    page.click("#timeline-filters button[type=submit]")
    assert _sequences(page) == list(range(1, LONG + 1, 10))
    assert set(page.eval_on_selector_all("#timeline > li", "e => e.map(x => x.dataset.type)")) == {
        "tool_call_started"
    }

    page.goto(f"{server.url}sessions/{stores.long_id}/events/157")
    assert "after=100" in page.url and page.url.endswith("#seq-157")
    assert page.locator("#seq-157").get_attribute("class").split()[-1] == "target"
    page.goto(f"{server.url}sessions/{stores.demo_id}")
    page.click("#seq-4 a.seq")
    assert page.url.endswith("#seq-4") and page.locator("#seq-4.target").count() == 1


# -- live --------------------------------------------------------------------------------------------


_APPEND = """
import sys
from agent_session_manager import Event, EventType, sync
store = sync.open_store(sys.argv[1])
store.append_event(Event(type=EventType.MESSAGE_RECEIVED, session_id=sys.argv[2],
                         data={"role": "assistant", "content": sys.argv[3]}))
store.close()
"""

_NEW_SESSION = """
import sys
from agent_session_manager import Session, sync
store = sync.open_store(sys.argv[1])
print(store.save_session(Session(agent_id="newcomer")).id)
store.close()
"""


def _other_process(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_event_appended_by_another_process_appears_within_two_seconds(
    stores: Stores, server: Server, page
) -> None:
    page.goto(f"{server.url}sessions/{stores.active_id}")
    assert page.locator("#live-state").count() == 1 and _sequences(page) == []
    page.wait_for_timeout(300)  # the stream is open
    _other_process(_APPEND, stores.database_url, stores.active_id, "hello from elsewhere")
    appended = time.monotonic()
    page.wait_for_selector("#seq-1", timeout=2000)
    assert time.monotonic() - appended < 2
    assert page.locator("#seq-1 .bubble").inner_text().endswith("hello from elsewhere")
    _other_process(_APPEND, stores.database_url, stores.active_id, XSS)
    page.wait_for_selector("#seq-2", timeout=2000)
    assert page.locator("#seq-2 .content").inner_text() == XSS  # live fragments are escaped too
    assert page.evaluate("window.__xss") is None
    assert _sequences(page) == [1, 2] and page.locator("#event-count").inner_text() == "2"


def test_the_list_shows_sessions_as_they_start(stores: Stores, server: Server, page) -> None:
    page.goto(f"{server.url}sessions")
    page.wait_for_timeout(300)
    new_id = _other_process(_NEW_SESSION, stores.database_url)
    page.wait_for_selector(f"#row-{new_id}", timeout=4000)
    assert page.locator("#sessions tbody tr").first.get_attribute("data-session") == new_id


# -- safety ------------------------------------------------------------------------------------------


def test_script_and_onerror_payloads_render_as_text(stores: Stores, server: Server, page) -> None:
    page.goto(f"{server.url}sessions/{stores.xss_id}")
    page.locator("section.head details summary").click()
    for li in page.locator("#timeline > li").all():
        li.locator("details summary").click()
    for pre in page.locator("#timeline details pre").all():
        playwright_api.expect(pre).to_contain_text("onerror")  # raw JSON, fetched, shown as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("main script, main img[onerror], main img[src=x]").count() == 0
    assert page.locator("#seq-1 .content").inner_text() == XSS
    assert XSS in page.locator("#seq-2 .tool-name").inner_text()
    assert XSS in page.locator("#seq-3 .error-box").inner_text()
    assert "onerror" in page.locator("section.head details pre").inner_text()
    assert page.locator("#seq-3.kind-error").count() == 1  # errors are highlighted
    assert XSS in page.locator("#seq-4.kind-other").inner_text()  # a namespaced type, shown generically
    page.fill("input[name=type]", "acme.step")
    page.click("#timeline-filters button[type=submit]")
    assert _sequences(page) == [4]
    assert page.evaluate("window.__xss") is None


def test_unknown_session_is_a_404_page(server: Server, page) -> None:
    response = page.goto(f"{server.url}sessions/ses_nope")
    assert response.status == 404
    assert "session_not_found" in page.locator(".error-page").inner_text()
    assert page.goto(f"{server.url}no/such/page").status == 404


def test_a_non_loopback_bind_without_a_token_refuses_to_start(stores: Stores) -> None:
    done = _asm(stores.cwd, "ui", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 1
    assert done.stderr.startswith("error: [validation_error] a token is required")
    assert "asm ui serving" not in done.stdout


def test_with_a_token_every_request_without_it_is_401(stores: Stores, writable: Server, page) -> None:
    base = writable.url
    for path in ("sessions", f"sessions/{stores.demo_id}", f"sessions/{stores.demo_id}/live", "static/ui.js"):
        assert httpx.get(base + path, timeout=10).status_code == 401, path
        assert httpx.get(base + path, params={"token": "wrong"}, timeout=10).status_code == 401
    bearer = httpx.get(base + "sessions?tag=demo", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert bearer.status_code == 200 and stores.demo_id in bearer.text
    assert page.goto(base + "sessions").status == 401
    page.goto(f"{base}sessions?agent=support-bot&token={TOKEN}")
    assert page.url == f"{base}sessions?agent=support-bot"  # the token left the address for a cookie
    assert page.locator(f"#row-{stores.demo_id}").count() == 1
    with httpx.stream(
        "GET", f"{base}sessions/{stores.demo_id}/live", headers={"authorization": f"Bearer {TOKEN}"}
    ) as live:
        assert live.status_code == 200 and live.headers["content-type"].startswith("text/event-stream")


def test_destructive_actions_need_allow_writes_csrf_and_a_confirmation(
    stores: Stores, server: Server, writable: Server, page
) -> None:
    store = sync.open_store(stores.database_url)
    try:
        victim = store.save_session(Session(agent_id="victim")).id
    finally:
        store.close()
    # Read-only server: refused, whatever the form holds.
    refused = httpx.post(f"{server.url}sessions/{victim}/delete", data={"confirm": victim, "csrf": "x"})
    assert refused.status_code == 403 and "--allow-writes" in refused.text
    assert httpx.post(f"{server.url}maintenance", data={"policy": "{}", "confirm": "yes"}).status_code == 403
    page.goto(f"{server.url}sessions/{victim}")
    assert page.locator("a.danger").count() == 0
    # Writable server: without the CSRF token, or from another origin, refused.
    auth = {"authorization": f"Bearer {TOKEN}"}
    url = f"{writable.url}sessions/{victim}/delete"
    assert httpx.post(url, data={"confirm": victim}, headers=auth).status_code == 403
    form = httpx.get(url, headers=auth).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    evil = {**auth, "origin": "http://evil.example"}
    assert httpx.post(url, data={"confirm": victim, "csrf": csrf.group(1)}, headers=evil).status_code == 403
    assert httpx.post(url, data={"confirm": "no", "csrf": csrf.group(1)}, headers=auth).status_code == 400
    assert httpx.get(f"{writable.url}sessions/{victim}", headers=auth).status_code == 200
    # In the browser: the confirmation page, the id typed in, then the session is gone.
    page.goto(f"{writable.url}sessions/{victim}?token={TOKEN}")
    page.click("a.danger")
    page.fill("input[name=confirm]", victim)
    page.click("button.danger")
    assert page.locator("#done").inner_text() == f"deleted session {victim}"
    assert page.goto(f"{writable.url}sessions/{victim}").status == 404


def test_retention_runs_from_the_page_with_writes_allowed(stores: Stores, writable: Server, page) -> None:
    page.goto(f"{writable.url}maintenance?token={TOKEN}")
    page.fill("textarea[name=policy]", '{"max_events_per_session": 5}')
    page.check("input[name=confirm]")
    page.click("#retention button")
    assert "dry run" in page.locator("h2").inner_text()
    pruned = page.locator("#report tr", has_text="events pruned").locator("td").nth(1).inner_text()
    assert int(pruned.replace(",", "")) > 0
    store = sync.open_store(stores.database_url)
    try:
        assert len(store.get_events(stores.long_id)) == LONG  # a dry run changed nothing
    finally:
        store.close()


# -- artifacts, snapshots, usage ----------------------------------------------------------------------


def test_artifacts_preview_download_and_checksum(stores: Stores, server: Server, page) -> None:
    key = f"demo/{stores.demo_id}/refund-INV-301.md"
    page.goto(f"{server.url}sessions/{stores.demo_id}")
    page.click(f"#session-artifacts a:text('{key}')")
    assert page.locator("#preview").inner_text() == REPLY.decode()
    assert page.locator("dl.facts").inner_text().count("text/markdown") == 1
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_bytes() == REPLY
    raw = httpx.get(f"{server.url}artifacts/raw/{key}")
    assert raw.content == REPLY and raw.headers["content-disposition"].startswith("attachment")
    page.goto(f"{server.url}artifacts/view/demo/{stores.demo_id}/chart.png")
    size = page.eval_on_selector(".preview img", "img => [img.complete, img.naturalWidth]")
    assert size == [True, 1]
    page.goto(f"{server.url}artifacts?prefix=demo/{stores.demo_id}/")
    assert page.locator("#artifacts tbody tr").count() == 2
    assert "79a58a0e" in page.locator("#artifacts").inner_text()  # SHA-256 of the reply


def test_the_session_workspace_lists_previews_and_downloads_its_files(
    stores: Stores, server: Server, page
) -> None:
    page.goto(f"{server.url}sessions/{stores.demo_id}")
    page.click("#workspace-link")
    row = page.locator("#workspace-files tbody tr")
    assert row.count() == 1
    assert hashlib.sha256(REPLY).hexdigest() in row.inner_text() and "text/markdown" in row.inner_text()
    row.locator("a", has_text="replies/refund-INV-301.md").click()
    assert page.locator("#preview").inner_text() == REPLY.decode()
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_bytes() == REPLY
    missing = httpx.get(f"{server.url}sessions/{stores.demo_id}/workspace/view/nothing/here.txt")
    assert missing.status_code == 404


def test_a_langgraph_thread_renders_with_the_same_views(stores: Stores, server: Server, page) -> None:
    """Two turns of a real LangGraph graph (agent -> tools -> agent, scripted) checkpointed by `ASMSaver`
    into the store the server reads: messages, tool calls and token usage are core events and render as
    such; LangGraph's own records are namespaced events, shown generically and filterable."""
    pytest.importorskip("langgraph")
    from agent_session_manager.integrations.langgraph import ASMSaver
    from agent_session_manager.integrations.langgraph.layout import session_id_for
    from test_langgraph_graph import CONFIG, INTERRUPT_TURN, THREAD, build, question

    with ASMSaver.from_url(stores.database_url) as saver:
        graph = build(saver)
        for turn in (1, 2):
            graph.invoke({"messages": [question(turn, INTERRUPT_TURN)]}, CONFIG)
    page.goto(f"{server.url}sessions/{quote(session_id_for(THREAD), safe='')}")
    assert page.locator(".bubble.role-user").all_inner_texts() == ["USER\nquestion 1", "USER\nquestion 2"]
    assert "answer 3: question 1 -> auto" in page.locator(".bubble.role-assistant").all_inner_texts()[1]
    calls = page.locator("li.kind-tool_call")
    assert calls.count() == 2 and "question 1 -> auto" in calls.first.locator(".result").inner_text()
    assert page.locator("li.kind-tokens").count() == 4
    assert page.locator("li[data-type='langgraph.checkpoint']").count() > 0
    sequences = _sequences(page)
    assert sequences == list(range(1, len(sequences) + 1))
    page.fill("input[name=type]", "langgraph.checkpoint")
    page.click("#timeline-filters button[type=submit]")
    shown = page.eval_on_selector_all("#timeline > li", "e => e.map(x => x.dataset.type)")
    assert shown and set(shown) == {"langgraph.checkpoint"}


def test_snapshot_history_and_diff(stores: Stores, server: Server, page) -> None:
    page.goto(f"{server.url}sessions/{stores.demo_id}")
    page.click("text=snapshots")
    rows = page.locator("#snapshot-ids tbody tr")
    assert rows.count() == 3  # two history entries and the latest
    page.click("#diff-form button")  # the first entry against the latest: the demo saved one state
    assert page.locator("#diff").inner_text() == "identical"
    page.locator("#snapshot-ids tbody tr").nth(1).locator("input[name=b]").check()
    page.click("#diff-form button")
    added = page.locator("#diff .d-add").all_inner_texts()
    assert added[0].startswith("+++") and any('"content": "thanks!"' in line for line in added[1:])
    page.locator("#snapshot-ids a", has_text="view").nth(1).click()
    assert "thanks!" in page.locator("#snapshot").inner_text()


def test_usage_page_charts_table_and_csv(stores: Stores, server: Server, page) -> None:
    page.goto(f"{server.url}usage")
    assert page.locator("figure.chart svg").count() == 6
    models = page.locator("#usage-models").inner_text()
    assert "claude-sonnet-4" in models and "908" in models and "0.003876" in models
    bars = page.locator("figure.chart").first.locator("rect.bar")
    heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(bars.count())]
    assert bars.count() == 14 and heights[-1] > 0 and heights[:-1] == [0.0] * 13
    page.screenshot(path=str(SCREENSHOTS / "usage.png"))
    csv = httpx.get(f"{server.url}usage.csv").text.splitlines()
    assert csv[0] == "breakdown,key,tokens,cost_usd,runs"
    assert "model,claude-sonnet-4,908,0.003876,1" in csv and "agent,support-bot,908,0.003876," in csv
