"""Racing workers in several OS processes, for the contract tests of optimistic concurrency.

A contract class that races processes derives from `ProcessRaces`: a backend's test class returns, from
`shared_url()`, a URL at which other processes open the store under test; a store that lives in one
process only (memory) returns None, and the same workers race as tasks of this process instead.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import orjson

from .registry import Contract


class ProcessRaces(Contract):
    """The hook of the process races (see the module docstring)."""

    def shared_url(self) -> str | None:
        """A URL at which other processes open the store under test (None: it lives in this process)."""
        return None


async def in_processes(script: str, url: str, key: str, workers: int, rounds: int) -> list[Any]:
    """Run `python -c script url key worker rounds` in `workers` processes at once; their JSON outputs
    (each prints one JSON document). A process that fails fails the caller with its stderr."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            url,
            key,
            str(worker),
            str(rounds),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for worker in range(workers)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 120)
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    return [orjson.loads(out) for out, _ in outputs]
