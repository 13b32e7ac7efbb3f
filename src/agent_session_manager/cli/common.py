"""What every `asm` command shares: global settings, opening stores, times, JSON and table output."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar, cast

import orjson
import typer
from rich.console import Console
from rich.table import Table

from ..artifacts.base import ArtifactStore
from ..composite import CompositeSessionStore, open_composite_store
from ..core.clock import utc_now
from ..core.errors import StorageError, ValidationError
from ..core.models import Event, Run, Session
from ..core.urls import redact_url
from ..core.usage import INPUT, OUTPUT, TOTAL, token_counts
from ..open import (
    DEFAULT_SNAPSHOTS_URL,
    default_artifacts_url,
    default_database_url,
    open_artifact_store,
    open_snapshot_storage,
    open_store,
)
from ..pricing import cost_of
from ..query.summary import model_of
from ..sessions.base import SessionStore
from ..snapshots.base import SnapshotStorage

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)

#: `--output FILE` of the commands that write content (the file appears complete or not at all).
Output = Annotated[
    str | None, typer.Option("--output", "-o", metavar="FILE", help="Write here instead of stdout.")
]
#: `--json` of every listing.
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]


@dataclass
class Settings:
    """The global options: where the stores are."""

    database_url: str
    artifacts_url: str
    snapshots_url: str


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    return Settings(default_database_url(), default_artifacts_url(), DEFAULT_SNAPSHOTS_URL)


def shown(url: str) -> str:
    """A store URL as it may be printed: passwords and secret query parameters masked."""
    return redact_url(url)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine; Ctrl-C ends it quietly with status 130."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        sys.exit(130)


async def open_sessions(ctx: typer.Context, *, migrate: bool = False) -> SessionStore:
    """The session store named by `--database-url` (or the environment, or the embedded default)."""
    return await open_store(settings(ctx).database_url, migrate=migrate)


async def open_composite(ctx: typer.Context, *, migrate: bool = False) -> CompositeSessionStore:
    """Both stores as one handle, so artifact blobs and their records are written and removed together."""
    chosen = settings(ctx)
    return await open_composite_store(
        chosen.database_url, chosen.artifacts_url, session_options={"migrate": migrate}
    )


async def open_artifacts(ctx: typer.Context) -> ArtifactStore:
    """The artifact store named by `--artifacts-url`."""
    return await open_artifact_store(settings(ctx).artifacts_url)


async def open_snapshots(ctx: typer.Context) -> SnapshotStorage:
    """The snapshot storage named by `--snapshots-url`."""
    return await open_snapshot_storage(settings(ctx).snapshots_url)


# -- times ---------------------------------------------------------------------------------------

_AGE = re.compile(r"(\d+)\s*(s|m|h|d|w)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

TIME_HELP = "ISO 8601 (2026-03-01, 2026-03-01T12:00:00+02:00; no zone = UTC) or an age: 30m, 12h, 7d, 2w."


def parse_time(text: str | None, option: str) -> datetime | None:
    """A `--since` / `--until` value: an ISO 8601 date or time (UTC when it has no zone), or an age
    such as `30m`, `12h`, `7d`, `2w` meaning that long before now. Anything else is `validation_error`."""
    if text is None:
        return None
    value = text.strip()
    age = _AGE.fullmatch(value)
    try:
        if age:
            return utc_now() - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        parsed = datetime.fromisoformat(value)  # a bare date is midnight
    except (ValueError, OverflowError):
        raise ValidationError(f"{option} {text!r}: expected {TIME_HELP}", details={"field": option}) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def time_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """`--since` and `--until`, parsed before any store is opened (bad input costs no I/O)."""
    return parse_time(since, "--since"), parse_time(until, "--until")


Since = Annotated[str | None, typer.Option(help=f"At or after this time. {TIME_HELP}")]
Until = Annotated[str | None, typer.Option(help=f"At or before this time. {TIME_HELP}")]


def when(value: datetime | None) -> str:
    """A time for a table cell (UTC, to the second)."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- input ---------------------------------------------------------------------------------------


def json_object(source: str, option: str, *, inline: bool) -> dict[str, Any]:
    """The JSON object of an option: the file at path `source`, or (when `inline`) `source` itself if it
    starts with `{`. An unreadable file, bad JSON or another JSON value is `validation_error`."""
    if inline and source.lstrip().startswith("{"):
        where, text = f"{option} value", source.encode()
    else:
        where = f"{option} file {source!r}"
        try:
            text = Path(source).read_bytes()
        except OSError as exc:
            raise ValidationError(
                f"cannot read the {where}: {exc.strerror or exc}", details={"field": option}
            ) from None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the {where} is not valid JSON: {exc}", details={"field": option}) from None
    if not isinstance(value, dict):
        raise ValidationError(f"the {where} must hold a JSON object", details={"field": option})
    return value


#: Bytes read at a time from an input file.
READ_CHUNK = 1 << 20


@contextmanager
def input_file(source: str) -> Iterator[BinaryIO]:
    """The file at `source` opened for reading (closed afterwards), or standard input for `-`; a file
    that cannot be opened is a bad argument (`validation_error`)."""
    if source == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ValidationError(
            f"cannot read {source!r}: {exc.strerror or exc}", details={"path": source}
        ) from None
    with stream:
        yield stream


async def chunks_of(stream: BinaryIO, first: bytes = b"") -> AsyncIterator[bytes]:
    """`first`, then the rest of `stream` in blocks read off the event loop."""
    if first:
        yield first
    while chunk := await asyncio.to_thread(stream.read, READ_CHUNK):
        yield chunk


@contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed over it (after fsync) only when the block succeeds, so a
    failed command never leaves a torn or half-written output file."""
    target = Path(path)
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        )
    except OSError as exc:
        raise StorageError(f"cannot write {path!r}: {exc.strerror or exc}", details={"path": path}) from None
    try:
        with handle:
            yield cast(BinaryIO, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException as exc:
        Path(handle.name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(
                f"cannot write {path!r}: {exc.strerror or exc}", details={"path": path}
            ) from None
        raise


# -- output --------------------------------------------------------------------------------------


def print_json(value: Any) -> None:
    """One JSON document on stdout (for `--json`)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    """A plain line on stdout (no Rich markup or highlighting, never wrapped)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def error_line(code: str, message: str) -> None:
    """The one line every failure prints on stderr: `error: [code] message`."""
    note(f"error: [{code}] {message}")


def note(text: str) -> None:
    """A plain line on stderr: progress and remarks that must not mix with data on stdout."""
    errors.print(text, markup=False, highlight=False, soft_wrap=True)


def usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def size(value: int) -> str:
    """A byte count for people: 512 B, 1.5 KiB, 3.2 MiB."""
    if value < 1024:
        return f"{value} B"
    amount = value / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def new_table(title: str, *columns: str, numeric: Collection[str] = (), caption: str | None = None) -> Table:
    """A table: the first column (an id or a key) wraps rather than being cut, numbers align right."""
    table = Table(title=title, caption=caption)
    for index, column in enumerate(columns):
        table.add_column(
            column,
            justify="right" if column in numeric else "left",
            overflow="fold" if index == 0 else "ellipsis",
        )
    return table


async def to_output(output: str | None, write: Callable[[BinaryIO], Awaitable[T]]) -> T:
    """`write` to stdout, or to the file `output` (which appears only once `write` has succeeded)."""
    if output is None:
        result = await write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return result
    with atomic_output(output) as sink:
        return await write(sink)


def timeline(events: list[Event], title: str = "timeline") -> Table:
    table = Table(title=title)
    table.add_column("seq", justify="right", style="bold")
    table.add_column("time (UTC)")
    table.add_column("type", style="cyan")
    table.add_column("run")
    table.add_column("summary")
    for event in events:
        table.add_row(*event_row(event))
    return table


def event_row(event: Event) -> tuple[str, str, str, str, str]:
    return (
        str(event.sequence_number),
        event.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        str(event.type),
        (event.run_id or "")[-8:],
        summarize(event),
    )


def sessions_table(sessions: list[Session]) -> Table:
    table = new_table("sessions", "id", "agent", "status", "tags", "created (UTC)", "updated (UTC)")
    for s in sessions:
        table.add_row(
            s.id, s.agent_id, s.status.value, ",".join(s.tags), when(s.created_at), when(s.updated_at)
        )
    return table


def run_cost(run: Run) -> float | None:
    """The run's stored cost, else its token usage priced with the built-in table (None: unknown)."""
    if run.cost_usd is not None:
        return run.cost_usd
    return cost_of(run.token_usage, run.provider, model_of(run))


def runs_table(runs: list[Run]) -> Table:
    table = new_table(
        "runs",
        *("id", "status", "provider", "model", "tokens in/out/total", "cost USD", "started", "ended"),
        numeric={"cost USD"},
    )
    for r in runs:
        counts = token_counts(r.token_usage)
        table.add_row(
            r.id,
            r.status.value,
            r.provider or "",
            model_of(r) or "",
            f"{counts[INPUT]}/{counts[OUTPUT]}/{counts[TOTAL]}",
            usd(run_cost(r)),
            when(r.started_at),
            when(r.ended_at),
        )
    return table


def summarize(event: Event) -> str:
    """One short line for the timeline: the most telling field of the event's data."""
    data = event.data
    for key in ("content", "tool_name", "stop_reason", "model", "agent_id"):
        if key in data:
            text = str(data[key])
            if key == "tool_name" and "tool_output" in data:
                text += f" -> {data['tool_output']}"
            return text if len(text) <= 70 else text[:67] + "..."
    if "input_tokens" in data:
        return f"in={data['input_tokens']} out={data['output_tokens']}"
    return ", ".join(f"{k}={v}" for k, v in data.items())
