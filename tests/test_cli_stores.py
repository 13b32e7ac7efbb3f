"""`asm artifacts`, `asm snapshots`, `asm maintenance` and `asm doctor` through the real entry point,
against SQLite and PostgreSQL (and an S3 artifact store on SeaweedFS)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import orjson
import pytest

import test_cli
from agent_session_manager import Event, EventType, Session, SessionStatus, open_snapshot_storage, open_store
from agent_session_manager.snapshots import Snapshot, SnapshotLocation, new_snapshot_id
from agent_session_manager.testing.services import S3Target
from test_cli import Cli, seed

#: The fixtures of test_cli: each test runs on SQLite and on PostgreSQL, with stores of its own.
database_url = test_cli.database_url
cli = test_cli.cli


def test_artifacts_put_ls_get_rm(cli: Cli) -> None:
    session, _ = asyncio.run(seed(cli.database_url))
    (cli.cwd / "report.txt").write_text("quarterly numbers\n")
    stored = cli.json("artifacts", "put", "reports/a.txt", "report.txt")
    assert (stored["key"], stored["size"], stored["content_type"]) == ("reports/a.txt", 18, "text/plain")
    binary = "\x00\x01 binary payload \xff"
    put = cli(
        "artifacts",
        "put",
        "reports/b.bin",
        "-",
        "--session",
        session.id,
        "--content-type",
        "application/x-test",
        "--metadata",
        '{"source": "cli"}',
        stdin=binary,
    )
    assert put.returncode == 0, put.stderr
    assert "stored reports/b.bin" in put.stdout

    listed = cli.json("artifacts", "ls", "reports/")
    assert [a["key"] for a in listed["artifacts"]] == ["reports/a.txt", "reports/b.bin"]
    assert listed["artifacts"][1]["metadata"] == {"source": "cli"}
    first = cli.json("artifacts", "ls", "rep", "--limit", "1")
    assert [a["key"] for a in first["artifacts"]] == ["reports/a.txt"]
    rest = cli.json("artifacts", "ls", "rep", "--limit", "1", "--cursor", first["next_cursor"])
    assert [a["key"] for a in rest["artifacts"]] == ["reports/b.bin"] and rest["next_cursor"] is None
    assert "reports/b.bin" in cli.table("artifacts", "ls")

    assert cli.ok("artifacts", "get", "reports/b.bin") == binary
    cli.ok("artifacts", "get", "reports/b.bin", "--output", "copy.bin")
    assert (cli.cwd / "copy.bin").read_text() == binary
    records = cli.json("sessions", "show", session.id)["artifacts"]
    assert [(r["key"], r["content_type"], r["metadata"]) for r in records] == [
        ("reports/b.bin", "application/x-test", {"source": "cli"})
    ]

    cli.fails("validation_error", "artifacts", "put", "../escape", "report.txt")
    cli.fails("validation_error", "artifacts", "put", "reports/c", "report.txt", "--metadata", "[1]")
    cli.fails("session_not_found", "artifacts", "put", "reports/c", "report.txt", "--session", "ses_nope")
    cli.fails("validation_error", "artifacts", "put", "reports/c", "missing.txt")
    assert [a["key"] for a in cli.json("artifacts", "ls")["artifacts"]] == ["reports/a.txt", "reports/b.bin"]

    removed = cli.ok("artifacts", "rm", "reports/b.bin", "reports/never")
    assert "removed reports/b.bin" in removed and "reports/never: not there" in removed
    assert "not there" in cli.ok("artifacts", "rm", "reports/b.bin")
    cli.fails("validation_error", "artifacts", "rm", "reports/a.txt", "a//b")
    assert [a["key"] for a in cli.json("artifacts", "ls")["artifacts"]] == ["reports/a.txt"]
    assert cli.json("sessions", "show", session.id)["artifacts"] == []
    cli.fails("not_found", "artifacts", "get", "reports/b.bin")

    blob = cli.cwd / "artifacts" / "reports.d" / "a.txt.blob"
    blob.write_bytes(b"Q" + blob.read_bytes()[1:])  # changed behind the store's back
    cli.fails("checksum_mismatch", "artifacts", "get", "reports/a.txt", "--output", "bad.txt")
    assert not (cli.cwd / "bad.txt").exists()


@pytest.mark.s3
def test_artifacts_on_s3_mask_credentials(s3_target: S3Target, tmp_path: Path) -> None:
    secret = s3_target.secret_access_key
    url = s3_target.url("cli") + f"&access_key_id={s3_target.access_key_id}&secret_access_key={secret}"
    cli = Cli(f"sqlite:///{tmp_path}/s3.db", tmp_path)
    asyncio.run(seed(cli.database_url))
    (tmp_path / "notes.json").write_text('{"notes": 1}')
    argv = ["--artifacts-url", url]
    stored = cli.json(*argv, "artifacts", "put", "n/notes.json", "notes.json")
    assert stored["content_type"] == "application/json"
    assert [a["key"] for a in cli.json(*argv, "artifacts", "ls", "n/")["artifacts"]] == ["n/notes.json"]
    assert cli.ok(*argv, "artifacts", "get", "n/notes.json") == '{"notes": 1}'
    doctor = cli(*argv, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    missing = cli.fails("not_found", *argv, "artifacts", "get", "n/missing")
    wrong = url.replace(f"secret_access_key={secret}", "secret_access_key=wrong-hunter2")
    refused = cli("--artifacts-url", wrong, "doctor")
    assert refused.returncode == 1 and "FAIL  artifacts" in refused.stdout
    for output in (doctor.stdout, missing.stderr, refused.stdout + refused.stderr):
        assert secret not in output and "wrong-hunter2" not in output
    assert "secret_access_key=%2A%2A%2A" in doctor.stdout or "secret_access_key=***" in doctor.stdout


async def seed_snapshots(url: str) -> list[str]:
    async with await open_snapshot_storage(url) as storage:
        agent = SnapshotLocation(session_id="ses_snap", scope="agent", scope_id="helper")
        ids = [new_snapshot_id(), new_snapshot_id()]
        for number, snapshot_id in enumerate(ids):
            state = Snapshot(scope="agent", data={"turn": number}, app_data={"note": f"v{number}"})
            await storage.save_snapshot(agent, snapshot_id, False, state)
            await storage.save_snapshot(agent, None, True, state)
        crew = SnapshotLocation(session_id="ses_snap", scope="multiAgent", scope_id="crew")
        await storage.save_snapshot(crew, None, True, Snapshot(scope="multiAgent", data={"members": 3}))
        return ids


def test_snapshots_ls_and_show(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path}/unused.db", tmp_path)
    first, second = asyncio.run(seed_snapshots(cli.snapshots_url))
    listed = cli.json("snapshots", "ls", "ses_snap", "helper")
    assert [h["id"] for h in listed["history"]] == [first, second]
    assert listed["latest"] is not None and listed["manifest"]["schemaVersion"] == "1.0"
    paged = cli.json("snapshots", "ls", "ses_snap", "helper", "--start-after", first, "--limit", "5")
    assert [h["id"] for h in paged["history"]] == [second]
    assert second in cli.table("snapshots", "ls", "ses_snap", "helper")

    latest = cli.json("snapshots", "show", "ses_snap", "helper")
    assert (latest["data"], latest["appData"]) == ({"turn": 1}, {"note": "v1"})
    assert cli.json("snapshots", "show", "ses_snap", "helper", first)["data"] == {"turn": 0}
    crew = cli.json("snapshots", "show", "ses_snap", "crew", "--scope", "multiAgent")
    assert crew["scope"] == "multiAgent" and crew["data"] == {"members": 3}
    assert '"turn": 1' in cli.ok("snapshots", "show", "ses_snap", "helper")

    assert cli.json("snapshots", "ls", "ses_snap", "nobody")["history"] == []
    cli.fails("not_found", "snapshots", "show", "ses_snap", "nobody")
    cli.fails("validation_error", "snapshots", "show", "ses_snap", "helper", "Not/Valid")
    cli.fails("validation_error", "snapshots", "ls", "SES_UPPER", "helper")
    cli.fails("usage_error", "snapshots", "ls", "ses_snap", "helper", "--scope", "team", status=2)


async def seed_history(url: str) -> tuple[str, str]:
    """A completed session and an active one (exempt by default), 20 events each."""
    async with await open_store(url, migrate=True) as store:
        ids = []
        for status in (SessionStatus.COMPLETED, SessionStatus.ACTIVE):
            session = await store.save_session(Session(agent_id="keeper", status=status))
            await store.append_events(
                [Event(type=EventType.SESSION_CREATED, session_id=session.id)]
                + [
                    Event(type=EventType.MESSAGE_SENT, session_id=session.id, data={"n": n})
                    for n in range(19)
                ]
            )
            ids.append(session.id)
        return ids[0], ids[1]


def test_maintenance_run_dry_run_then_for_real(cli: Cli) -> None:
    done, active = asyncio.run(seed_history(cli.database_url))
    policy = '{"max_events_per_session": 5}'
    preview = cli.json("maintenance", "run", "--policy", policy, "--dry-run")
    assert preview["dry_run"] is True and preview["events_pruned"] == 15 and preview["errors"] == []
    assert len(cli.json("events", "list", done)) == 20

    (cli.cwd / "policy.json").write_text('{"max_events_per_session": 5, "archive_before_prune": true}')
    report = cli.json("maintenance", "run", "--policy", "policy.json")
    assert (report["dry_run"], report["events_pruned"], report["events_archived"]) == (False, 15, 15)
    kept = cli.json("events", "list", done)
    assert kept[0]["type"] == "session_created" and len(kept) == 5
    assert len(cli.json("events", "list", active)) == 20
    archives = cli.json("artifacts", "ls", "asm-archive/")["artifacts"]
    assert [a["key"].split("/")[-2] for a in archives] == [done]
    archived = cli.ok("artifacts", "get", archives[0]["key"]).splitlines()
    assert len(archived) == 15 and all(orjson.loads(line)["kind"] == "event" for line in archived)

    table = cli.table("maintenance", "run", "--policy", policy, "--dry-run")
    assert "maintenance report (dry run: would be)" in table and "events pruned" in table
    cli.fails("validation_error", "maintenance", "run", "--policy", '{"max_events_per_sesion": 5}')
    cli.fails("validation_error", "maintenance", "run", "--policy", "missing.json")
    cli.fails("validation_error", "maintenance", "run", "--policy", '{"batch_size": 0}')


async def orphan_counter(url: str) -> None:
    """A sequence counter whose session is gone: what a crash between two writes could leave."""
    statement = "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES ('ses_gone', 3)"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute(statement)
        return
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def test_doctor_finds_and_maintenance_repairs(cli: Cli) -> None:
    if cli.database_url.startswith("sqlite"):
        empty = cli("doctor", "--json")
        assert empty.returncode == 1
        found = {(f["check"], f["status"], f["code"]) for f in orjson.loads(empty.stdout)["findings"]}
        assert ("schema", "fail", "migration_required") in found and ("health", "skip", None) in found
        assert ("artifacts", "ok", None) in found
    asyncio.run(seed(cli.database_url))
    healthy = cli.process("doctor")
    assert healthy.returncode == 0, healthy.stdout
    assert [line.split()[:2] for line in healthy.stdout.splitlines()] == [
        ["OK", "database"],
        ["OK", "schema"],
        ["OK", "health"],
        ["OK", "artifacts"],
    ]

    asyncio.run(orphan_counter(cli.database_url))
    broken = cli("doctor")
    assert broken.returncode == 1
    assert any(
        line.startswith("FAIL  health") and line.endswith("[counter_without_session]")
        for line in broken.stdout.splitlines()
    )
    repaired = cli.json("maintenance", "run", "--policy", "{}")
    assert repaired["orphaned_sequences_cleaned"] == 1
    assert cli("doctor").returncode == 0

    try:
        cli.fails("validation_error", "db", "downgrade", "0001_initial", "--yes")
        assert "current:  0001\n" in cli.ok("db", "downgrade", "0001", "--yes")
        doctor = cli("doctor", "--json")
        assert doctor.returncode == 1
        behind = {(f["check"], f["status"]): f for f in orjson.loads(doctor.stdout)["findings"]}
        assert "at revision 0001," in behind["schema", "fail"]["message"]
        assert "upgrade needed" in cli.ok("db", "status")
    finally:
        assert "up to date" in cli.ok("db", "upgrade")
    assert cli("doctor").returncode == 0
