"""The README's main job, run through the real `asm` entry point, and every command it suggests, run as
printed (the demo in a subprocess; `events tail` too, the other suggestions through the same `main()`)."""

from __future__ import annotations

import asyncio
import os
import select
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from agent_session_manager.demo import REPLY
from test_cli import clean_env, empty_postgres, invoke

ASM = Path(sys.executable).with_name("asm")


def _asm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ASM), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120
    )


def _suggested(out: str) -> list[list[str]]:
    """The commands printed after "Look at what was stored:", split as a shell would."""
    lines = out.split("Look at what was stored:\n", 1)[1].splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.startswith("  ")]


def _in(cwd: Path, argv: list[str]) -> tuple[int, str, str]:
    here = Path.cwd()
    os.chdir(cwd)
    try:
        done = invoke(argv)
    finally:
        os.chdir(here)
    return done.returncode, done.stdout, done.stderr


def _tail_until_completed(argv: list[str], cwd: Path) -> str:
    """Run the suggested `events tail` as printed until it has shown the end of the session."""
    tail = subprocess.Popen(argv, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    try:
        assert tail.stdout is not None
        while b"session_completed" not in seen:
            ready, _, _ = select.select([tail.stdout], [], [], 30)
            assert ready, f"events tail printed nothing more after: {seen!r}"
            chunk = os.read(tail.stdout.fileno(), 1 << 16)
            assert chunk, f"events tail ended: {tail.stderr.read() if tail.stderr else b''!r}"
            seen += chunk
    finally:
        tail.terminate()
        tail.wait(timeout=10)
    return seen.decode()


def _ui_page(argv: list[str], cwd: Path, path: str) -> str:
    """Start the suggested `asm ui` as printed (on a free port rather than 8765, which another program
    may hold), fetch one page from the address it prints, and stop it by its PID."""
    server = subprocess.Popen(
        [*argv, "--port", "0"], cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 30)
        assert ready, "asm ui printed no address"
        address = server.stdout.readline().decode().split()[3]
        return httpx.get(address + path, timeout=10).raise_for_status().text
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.mark.parametrize("backend", ["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_demo_and_every_command_it_suggests(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    options: list[str] = []
    if backend == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        asyncio.run(empty_postgres(url))
        options = ["--database-url", url]
    done = _asm(*options, "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for kind in ("session_created", "tool_call_started", "tool_call_completed", "run_completed"):
        assert kind in out
    assert "billing.list_invoices" in out
    assert "status=completed" in out and "events=12" in out and "cost USD 0.003876" in out
    seq_column = [line.split("│")[1].strip() for line in out.splitlines() if line.count("│") >= 4]
    assert [s for s in seq_column if s] == [str(i) for i in range(1, 13)]
    session_id = out.split()[1]
    workspace_file = next(line.split()[2] for line in out.splitlines() if line.startswith("workspace file"))
    assert (tmp_path / workspace_file).read_bytes() == REPLY

    commands = _suggested(out)
    assert len(commands) == 13
    expected: dict[str, str | None] = {
        "sessions list": session_id,
        "sessions show": "0.003876",
        "events list": "billing.list_invoices",
        "usage": "claude-sonnet-4",
        "cost": "0.003876",
        "artifacts ls": f"demo/{session_id}/refund-INV-301.md",
        "artifacts get": REPLY.decode(),
        "snapshots ls": "latest",
        "snapshots show": '"messages"',
        "export": None,
        "doctor": "OK    artifacts",
    }
    for argv in commands:
        assert Path(argv[0]).resolve() == ASM.resolve() if "/" in argv[0] else argv[0] == "asm"
        assert argv[1 : 1 + len(options)] == options
        words = argv[1 + len(options) :]
        name = (
            " ".join(words[:2]) if words[0] in ("sessions", "events", "artifacts", "snapshots") else words[0]
        )
        if name == "events tail":
            assert "session_completed" in _tail_until_completed(argv, tmp_path)
            continue
        if name == "ui":
            assert argv == commands[-1], "the demo ends by suggesting asm ui"
            assert session_id in _ui_page(argv, tmp_path, f"sessions/{session_id}")
            continue
        status, stdout, stderr = _in(tmp_path, argv[1:])
        assert status == 0, f"{shlex.join(argv)}: {stderr}"
        check = expected.pop(name)
        if check is None:  # export
            lines = (tmp_path / f"{session_id}.jsonl").read_bytes().splitlines()
            assert orjson.loads(lines[-1]) == {"kind": "end", "runs": 1, "events": 12, "artifacts": 1}
        else:
            assert check in stdout, (name, stdout)
    assert not expected, f"not suggested: {sorted(expected)}"


def test_cli_error_is_one_line_with_code_and_no_secret(tmp_path: Path) -> None:
    done = _asm("--database-url", "mongodb://me:hunter2@host/db", "demo", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: [validation_error]")
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
