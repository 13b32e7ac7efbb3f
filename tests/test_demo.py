"""The README's main job, run through the real `asm` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _asm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    asm = Path(sys.executable).with_name("asm")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASM_")}
    env["COLUMNS"] = "200"
    return subprocess.run([str(asm), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_demo_prints_the_timeline(tmp_path: Path) -> None:
    done = _asm("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for kind in ("session_created", "tool_call_started", "tool_call_completed", "run_completed"):
        assert kind in out
    assert "billing.list_invoices" in out
    assert "status=completed" in out and "events=12" in out
    seq_column = [line.split("│")[1].strip() for line in out.splitlines() if line.count("│") >= 4]
    assert [s for s in seq_column if s] == [str(i) for i in range(1, 13)]


def test_cli_error_is_one_line_with_code_and_no_secret(tmp_path: Path) -> None:
    done = _asm("--database-url", "mongodb://me:hunter2@host/db", "demo", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: [validation_error]")
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
