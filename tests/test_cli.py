"""`asm` through its real entry point, against SQLite and PostgreSQL: sessions, events, usage and cost,
export and import, and how errors are reported.

Most commands run in this process through `agent_session_manager.cli.main` (the function the `asm`
script calls, with `sys.argv`, standard streams and exit status as in a shell), because a subprocess costs
about a second of imports on a loaded machine. Tables are checked in subprocesses, which also cover
`sessions list` and `events tail` end to end.
"""

from __future__ import annotations

import asyncio
import io
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from agent_session_manager import Event, EventType, Run, RunStatus, Session, SessionStatus, open_store
from agent_session_manager.cli import main
from agent_session_manager.core.clock import utc_now
from agent_session_manager.sessions.sql import migrations
from agent_session_manager.sessions.sql.schema import TABLE_NAMES

ASM = str(Path(sys.executable).with_name("asm"))


def clean_env() -> dict[str, str]:
    """The environment without any ASM_* variable, and a wide terminal for tables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASM_")}
    env["COLUMNS"] = "200"
    return env


async def empty_postgres(url: str) -> None:
    """Migrate the shared test database and empty it, so whole-store commands see only this test."""
    await migrations.upgrade_async(url)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cli.db"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(empty_postgres(url))
    return url


@dataclass(frozen=True)
class Done:
    """What a command did: exit status, stdout, stderr (like `subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


def invoke(argv: list[str], stdin: bytes = b"") -> Done:
    """`main()` with `argv`, standard streams and the environment of a fresh shell (no ASM_* variables)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
    environ = dict(os.environ)
    sys.argv, sys.stdin, sys.stdout, sys.stderr = (
        ["asm", *argv],
        io.TextIOWrapper(io.BytesIO(stdin)),
        out,
        err,
    )
    os.environ.clear()
    os.environ.update(clean_env())
    try:
        main()
        code: int = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
        os.environ.clear()
        os.environ.update(environ)
    return Done(code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode())  # type: ignore[attr-defined]


@dataclass
class Cli:
    """Runs `asm` with this test's stores: the database, and artifacts and snapshots under `cwd`."""

    database_url: str
    cwd: Path

    @property
    def artifacts_url(self) -> str:
        return f"file://{self.cwd}/artifacts"

    @property
    def snapshots_url(self) -> str:
        return f"file://{self.cwd}/snapshots"

    def argv(self, *args: str) -> list[str]:
        return [
            ASM,
            "--database-url",
            self.database_url,
            "--artifacts-url",
            self.artifacts_url,
            "--snapshots-url",
            self.snapshots_url,
            *args,
        ]

    def __call__(self, *args: str, stdin: str = "") -> Done:
        """Run in this process, in `cwd`."""
        here = Path.cwd()
        os.chdir(self.cwd)
        try:
            return invoke(self.argv(*args)[1:], stdin.encode())
        finally:
            os.chdir(here)

    def process(self, *args: str) -> Done:
        """Run in a subprocess (a 200-column terminal), as from a shell."""
        done = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=120, env=clean_env(), cwd=self.cwd
        )
        return Done(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, stdin: str = "") -> str:
        """stdout of a command that must succeed."""
        done = self(*args, stdin=stdin)
        assert done.returncode == 0, f"asm {' '.join(args)}: {done.stderr}"
        return done.stdout

    def table(self, *args: str) -> str:
        """stdout of a command that must succeed, run in a subprocess (for tables)."""
        done = self.process(*args)
        assert done.returncode == 0, f"asm {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.ok(*args, "--json"))

    def fails(self, code: str, *args: str, status: int = 1) -> Done:
        """A command that must fail with exactly one `error: [code] ...` line on stderr."""
        done = self(*args)
        assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
        assert done.stderr.startswith(f"error: [{code}] "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return done


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return Cli(database_url, tmp_path)


async def seed(url: str, agent: str = "cli-agent") -> tuple[Session, Run]:
    async with await open_store(url, migrate=True) as store:
        session = await store.save_session(Session(agent_id=agent, tags=["cli"]))
        run = await store.save_run(
            Run(session_id=session.id, status=RunStatus.RUNNING, token_usage={"input_tokens": 7})
        )
        await store.append_events(
            [
                Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"content": "hello"}),
                Event(type=EventType.TOOL_CALL_STARTED, session_id=session.id, run_id=run.id),
                Event(type=EventType.MESSAGE_RECEIVED, session_id=session.id, data={"content": "hi!"}),
            ]
        )
        return session, run


async def seed_sessions(url: str) -> dict[str, Session]:
    """Three sessions to filter: an old one, a tagged active one with a priced run, another agent's."""
    now = utc_now()
    async with await open_store(url, migrate=True) as store:
        old = await store.save_session(
            Session(
                agent_id="alpha",
                tags=["cli", "old"],
                status=SessionStatus.COMPLETED,
                created_at=now - timedelta(days=10),
                updated_at=now - timedelta(days=9),
            )
        )
        new = await store.save_session(
            Session(
                agent_id="alpha",
                tags=["cli", "vip"],
                status=SessionStatus.ACTIVE,
                created_at=now - timedelta(hours=1),
                updated_at=now,
            )
        )
        other = await store.save_session(
            Session(agent_id="beta", tags=["cli"], created_at=now - timedelta(hours=2), updated_at=now)
        )
        await store.save_run(
            Run(
                session_id=new.id,
                status=RunStatus.COMPLETED,
                provider="anthropic",
                provider_metadata={"model": "claude-sonnet-4-20250514"},
                token_usage={"input_tokens": 1000, "output_tokens": 100},
                ended_at=now,
            )
        )
        await store.append_event(
            Event(type=EventType.MESSAGE_SENT, session_id=new.id, data={"content": "vip"})
        )
    return {"old": old, "new": new, "other": other}


def ids(doc: dict[str, Any]) -> list[str]:
    return [s["id"] for s in doc["sessions"]]


def test_sessions_list_filters_paging_and_show(cli: Cli) -> None:
    s = asyncio.run(seed_sessions(cli.database_url))
    listed = cli.process("sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert set(ids(orjson.loads(listed.stdout))) == {s["old"].id, s["new"].id, s["other"].id}
    assert ids(cli.json("sessions", "list", "--agent", "alpha", "--tag", "vip")) == [s["new"].id]
    assert ids(cli.json("sessions", "list", "--tag", "cli", "--tag", "old")) == [s["old"].id]
    assert ids(cli.json("sessions", "list", "--status", "active")) == [s["new"].id]
    assert ids(cli.json("sessions", "list", "--provider", "anthropic")) == [s["new"].id]
    assert set(ids(cli.json("sessions", "list", "--since", "2d"))) == {s["new"].id, s["other"].id}
    assert ids(cli.json("sessions", "list", "--until", "5d")) == [s["old"].id]

    first = cli.json("sessions", "list", "--order", "created_at_asc", "--limit", "2")
    assert ids(first) == [s["old"].id, s["other"].id]
    rest = cli.json(
        "sessions", "list", "--order", "created_at_asc", "--limit", "2", "--cursor", first["next_cursor"]
    )
    assert ids(rest) == [s["new"].id]
    assert rest["next_cursor"] is None
    cli.fails(
        "invalid_cursor", "sessions", "list", "--order", "created_at_desc", "--cursor", first["next_cursor"]
    )

    shown = cli.json("sessions", "show", s["new"].id)
    assert shown["session"]["id"] == s["new"].id
    assert shown["stats"]["run_count"] == 1 and shown["stats"]["event_count"] == 1
    # 1000 input tokens at $3/M + 100 output tokens at $15/M, priced by model prefix (no stored cost).
    assert shown["cost"]["total_cost_usd"] == pytest.approx(0.0045)
    assert [r["provider"] for r in shown["runs"]] == ["anthropic"]
    table = cli.table("sessions", "show", s["new"].id)
    assert "claude-sonnet-4-20250514" in table and "0.004500" in table and "1000/100/1100" in table


def test_events_list_filters(cli: Cli) -> None:
    session, run = asyncio.run(seed(cli.database_url))
    assert [e["sequence_number"] for e in cli.json("events", "list", session.id, "--after", "1")] == [2, 3]
    typed = cli.json("events", "list", session.id, "--type", "message_received")
    assert [e["data"] for e in typed] == [{"content": "hi!"}]
    assert [e["type"] for e in cli.json("events", "list", session.id, "--run", run.id)] == [
        "tool_call_started"
    ]
    assert cli.json("events", "list", session.id, "--since", "2099-01-01") == []
    assert (
        len(cli.json("events", "list", session.id, "--since", "1h", "--until", "2099-01-01T00:00:00Z")) == 3
    )
    assert [e["sequence_number"] for e in cli.json("events", "list", session.id, "--last", "2")] == [2, 3]
    newest_before = cli.json("events", "list", session.id, "--before", "3", "--last", "1")
    assert [e["sequence_number"] for e in newest_before] == [2]
    cli.fails("validation_error", "events", "list", session.id, "--last", "1", "--limit", "1")
    cli.fails("validation_error", "events", "list", session.id, "--last", str(2**63))
    latest = cli.json("sessions", "show", session.id, "--events", "2")["events"]
    assert [e["sequence_number"] for e in latest] == [2, 3]
    assert "the last 2 of 3 events" in cli.ok("sessions", "show", session.id, "--events", "2")


def test_sessions_delete_needs_confirmation_and_removes_blobs(cli: Cli) -> None:
    session, _ = asyncio.run(seed(cli.database_url))
    (cli.cwd / "blob.txt").write_text("artifact of the session")
    cli.ok("artifacts", "put", "owned/blob.txt", "blob.txt", "--session", session.id)
    refused = cli("sessions", "delete", session.id)
    assert refused.returncode == 1
    assert "nothing was deleted" in refused.stderr
    cli.ok("sessions", "delete", session.id, "--yes")
    missing = cli.fails("session_not_found", "sessions", "show", session.id)
    assert session.id in missing.stderr
    assert cli.json("artifacts", "ls", "owned/")["artifacts"] == []


def test_events_tail_prints_an_event_appended_by_another_process(database_url: str) -> None:
    session, _ = asyncio.run(seed(database_url))
    tail = subprocess.Popen(
        [ASM, "--database-url", database_url, "events", "tail", session.id, "--json", "--after", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        time.sleep(2.0)
        writer = (
            "import asyncio, sys\n"
            "from agent_session_manager import open_store, Event\n"
            "async def main():\n"
            "    async with await open_store(sys.argv[1]) as s:\n"
            "        await s.append_event(Event(type='message_sent', session_id=sys.argv[2],"
            " data={'content': 'from another process'}))\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", writer, database_url, session.id], check=True, timeout=60)
        assert tail.stdout is not None
        ready, _, _ = select.select([tail.stdout], [], [], 15)
        assert ready, "tail printed nothing within 15 s of the append"
        line = orjson.loads(tail.stdout.readline())
        assert line["sequence_number"] == 4
        assert line["data"] == {"content": "from another process"}
    finally:
        tail.terminate()
        tail.wait(timeout=10)


async def seed_costs(url: str) -> None:
    """Runs of agent `costs`: anthropic (priced by the built-in table), openai with a stored cost, and a
    local model nobody prices."""
    async with await open_store(url, migrate=True) as store:
        session = await store.save_session(Session(agent_id="costs"))
        for provider, model, usage, cost in (
            ("anthropic", "claude-sonnet-4", {"input_tokens": 1000, "output_tokens": 100}, None),
            ("openai", "gpt-4o", {"input_tokens": 2000, "output_tokens": 500}, 0.5),
            ("local", "llama", {"input_tokens": 10, "output_tokens": 5}, None),
        ):
            await store.save_run(
                Run(
                    session_id=session.id,
                    status=RunStatus.COMPLETED,
                    provider=provider,
                    provider_metadata={"model": model},
                    token_usage=usage,
                    cost_usd=cost,
                )
            )
        other = await store.save_session(Session(agent_id="someone-else"))
        await store.save_run(Run(session_id=other.id, provider="anthropic", token_usage={"input_tokens": 99}))


def test_usage_and_cost_by_provider_and_model(cli: Cli) -> None:
    asyncio.run(seed_costs(cli.database_url))
    usage = cli.json("usage", "--agent", "costs")
    assert usage["run_count"] == 3
    assert usage["total_input_tokens"] == 3010 and usage["total_output_tokens"] == 605
    assert {k: v["run_count"] for k, v in usage["by_provider"].items()} == {
        "anthropic": 1,
        "local": 1,
        "openai": 1,
    }
    assert usage["by_model"]["gpt-4o"]["input_tokens"] == 2000
    assert cli.json("usage")["run_count"] == 4
    assert cli.json("usage", "--since", "2099-01-01")["run_count"] == 0
    assert "claude-sonnet-4" in cli.ok("usage", "--agent", "costs", "--provider", "anthropic")
    assert cli.json("usage", "--agent", "costs", "--provider", "anthropic")["run_count"] == 1

    cost = cli.json("cost", "--agent", "costs")
    assert cost["total_cost_usd"] == pytest.approx(0.5045)  # stored 0.5 + built-in price of anthropic
    assert (cost["priced_run_count"], cost["unmapped_runs"]) == (2, 1)
    pricing = cli.cwd / "pricing.json"
    pricing.write_bytes(orjson.dumps({"local": {"models": {"llama": {"input": 0.001, "output": 0.002}}}}))
    priced = cli.json("cost", "--agent", "costs", "--pricing", str(pricing))
    # The file replaces the built-in table: llama is priced now, anthropic is not; stored costs stand.
    assert priced["total_cost_usd"] == pytest.approx(0.52)
    assert priced["by_provider"]["local"]["cost_usd"] == pytest.approx(0.02)
    assert priced["unmapped_runs"] == 1
    table = cli.table("cost", "--agent", "costs")
    assert "by model" in table and "0.504500" in table and "1 run(s) have no stored cost" in table
    cli.fails("validation_error", "cost", "--pricing", str(cli.cwd / "missing.json"))
    pricing.write_text("[1, 2]")
    cli.fails("validation_error", "cost", "--pricing", str(pricing))


def test_export_and_import_round_trip(cli: Cli) -> None:
    session, _ = asyncio.run(seed(cli.database_url))
    original = cli.json("sessions", "show", session.id)
    document = orjson.loads(cli.ok("export", session.id))
    assert document["format"] == "agent-session-manager/session-export"
    assert [e["sequence_number"] for e in document["events"]] == [1, 2, 3]
    cli.ok("export", session.id, "--output", "s.jsonl")
    lines = [orjson.loads(line) for line in (cli.cwd / "s.jsonl").read_bytes().splitlines()]
    assert [line["kind"] for line in lines] == ["header", "session", "run", "event", "event", "event", "end"]

    cli.ok("sessions", "delete", session.id, "--yes")
    result = cli.json("import", "s.jsonl")
    assert (result["session_id"], result["runs"], result["events"]) == (session.id, 1, 3)
    restored = cli.json("sessions", "show", session.id)
    assert restored["events"] == original["events"] and restored["runs"] == original["runs"]

    again = cli("import", "-", stdin=orjson.dumps(document).decode())
    assert again.returncode == 1 and again.stderr.startswith("error: [already_exists]")
    cli.ok("sessions", "delete", session.id, "--yes")
    assert "imported " + session.id in cli.ok("import", "-", stdin=orjson.dumps(document).decode())

    cli.fails("session_not_found", "export", "ses_missing", "--output", "missing.json")
    assert sorted(p.name for p in cli.cwd.iterdir() if "missing" in p.name) == []  # no torn or temp file
    cli.ok("sessions", "delete", session.id, "--yes")
    (cli.cwd / "torn.jsonl").write_bytes((cli.cwd / "s.jsonl").read_bytes()[:-20])
    cli.fails("validation_error", "import", "torn.jsonl")
    cli.fails("session_not_found", "sessions", "show", session.id)  # all or nothing


def test_errors_are_one_line_with_code(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/never.db", tmp_path)
    bad_option = cli.fails("usage_error", "sessions", "list", "--bogus", status=2)
    assert "asm sessions list --help" in bad_option.stderr
    cli.fails("validation_error", "sessions", "list", "--since", "yesterday")
    cli.fails("migration_required", "sessions", "list")
    assert not (tmp_path / "never.db").exists()
    debug = cli.process("--debug", "sessions", "list")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "MigrationRequired" in debug.stderr

    secret = Cli("postgresql://app:hunter2@127.0.0.1:1/nope", tmp_path)
    done = secret.fails("storage_connection_failed", "sessions", "list")
    assert done.stderr.count("\n") == 1
    assert "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("url", "argv"),
    [
        ("sqlite:///{tmp}/x.db?password=hunter2", ["sessions", "list"]),
        ("postgresql://app:hunter2@[::1/db", ["sessions", "list"]),
        ("postgresql://app:hunter2@db:port/x", ["sessions", "list"]),
        ("mysql://app:hunter2@db/x", ["db", "status"]),
    ],
)
def test_malformed_or_unsupported_urls_are_validation_errors_without_secrets(
    tmp_path: Path, url: str, argv: list[str]
) -> None:
    done = Cli(url.format(tmp=tmp_path), tmp_path).fails("validation_error", *argv)
    assert "hunter2" not in done.stderr + done.stdout


def test_events_tail_refuses_a_negative_last(cli: Cli) -> None:
    done = cli.fails("validation_error", "events", "tail", "ses_x", "--last", "-1")
    assert "last must be an integer from 0" in done.stderr
