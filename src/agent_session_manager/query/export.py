"""Export a session (session, runs, events in order, artifact records) and import it into any store.

Two shapes of the same content, both canonical (object keys sorted, UTC timestamps with microseconds), so
that exporting, importing elsewhere and exporting again gives identical bytes:

* one JSON document: `{"format", "version", "session", "runs", "events", "artifacts"}`
  (`export_session_json`, `SessionExport.to_json`);
* JSON Lines for sessions larger than memory (`stream_session_jsonl`): a header line, the session, each
  run, each event, each artifact record, and a trailer with the counts, so a truncated stream is detected
  on import instead of loading half a session.

Export reads through the `SessionStore` port page by page, so it works on every backend; events appended
while an export runs may or may not be included. Artifact records are exported, not the blobs: they stay
in their `ArtifactStore`, where the records point.

`import_session` loads an export into any store that does not have the session yet, nor any of its event
ids or artifact keys (`already_exists` otherwise). If anything fails midway, the partly imported session
is deleted again, so an import either happens completely or leaves nothing. The target store numbers
events itself: an export whose sequence numbers run 1..n is reproduced exactly; one with holes (events
pruned by maintenance) is renumbered 1..n in the same order, and the result says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from ..artifacts.registry import ArtifactRegistry
from ..core.errors import AlreadyExists, NotFound, SessionNotFound, ValidationError
from ..core.models import ArtifactRecord, Event, Run, Session
from ..core.pagination import MAX_PAGE_SIZE, pages
from ..sessions.base import SessionStore

EXPORT_FORMAT = "agent-session-manager/session-export"
EXPORT_VERSION = 1
#: Events read or written per round trip while exporting or importing.
BATCH = MAX_PAGE_SIZE

_OPTIONS = orjson.OPT_SORT_KEYS


class SessionExport(BaseModel):
    """Everything about one session, in the order a store returns it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["agent-session-manager/session-export"] = "agent-session-manager/session-export"
    version: Literal[1] = 1
    session: Session
    runs: list[Run]
    events: list[Event]
    artifacts: list[ArtifactRecord]

    def to_json(self) -> bytes:
        """The canonical JSON document (sorted keys)."""
        return orjson.dumps(self.model_dump(mode="json"), option=_OPTIONS)

    def to_jsonl(self) -> list[bytes]:
        """The same content as JSON Lines (each line ends with a newline)."""
        return _lines(self.session, self.runs, self.events, self.artifacts)

    @classmethod
    def from_json(cls, data: bytes | str) -> SessionExport:
        """Parse a JSON document; `validation_error` if it is not a valid export."""
        return _parse_document(_loads(data, "export document"))

    @classmethod
    def from_jsonl(cls, lines: Iterable[bytes | str]) -> SessionExport:
        """Parse JSON Lines (complete, with the trailer); `validation_error` otherwise."""
        reader = _LineReader()
        for line in lines:
            reader.feed(line)
        return reader.finish()


@dataclass(frozen=True)
class ImportResult:
    """What `import_session` wrote, and whether the target store renumbered the events."""

    session_id: str
    runs: int
    events: int
    artifacts: int
    renumbered: bool


# -- export --------------------------------------------------------------------------------------


async def export_session(store: SessionStore, session_id: str) -> SessionExport:
    """The whole session as a `SessionExport` (`SessionNotFound` if it does not exist)."""
    session = await store.get_session(session_id)
    runs = [run async for run in _runs(store, session_id)]
    events = [event async for batch in _event_batches(store, session_id) for event in batch]
    artifacts = [record async for record in _artifacts(store, session_id)]
    return SessionExport(session=session, runs=runs, events=events, artifacts=artifacts)


async def export_session_json(store: SessionStore, session_id: str) -> bytes:
    """The session as one canonical JSON document."""
    return (await export_session(store, session_id)).to_json()


async def stream_session_jsonl(store: SessionStore, session_id: str) -> AsyncIterator[bytes]:
    """The session as JSON Lines, read and yielded page by page (memory stays bounded)."""
    session = await store.get_session(session_id)
    counts = {"runs": 0, "events": 0, "artifacts": 0}
    yield _line({"kind": "header", "format": EXPORT_FORMAT, "version": EXPORT_VERSION})
    yield _line({"kind": "session", "session": session.to_dict()})
    async for run in _runs(store, session_id):
        counts["runs"] += 1
        yield _line({"kind": "run", "run": run.to_dict()})
    async for batch in _event_batches(store, session_id):
        counts["events"] += len(batch)
        yield b"".join(event_line(event) for event in batch)
    async for record in _artifacts(store, session_id):
        counts["artifacts"] += 1
        yield _line({"kind": "artifact", "artifact": record.to_dict()})
    yield _line({"kind": "end", **counts})


def event_line(event: Event) -> bytes:
    """One event as a JSON Lines record of the export format (also used by maintenance archives)."""
    return _line({"kind": "event", "event": event.to_dict()})


async def _runs(store: SessionStore, session_id: str) -> AsyncIterator[Run]:
    async for page in pages(lambda cursor: store.list_runs(session_id, limit=MAX_PAGE_SIZE, cursor=cursor)):
        for run in page.items:
            yield run


async def _event_batches(store: SessionStore, session_id: str) -> AsyncIterator[list[Event]]:
    position = 0
    while True:
        batch = await store.get_events(session_id, after=position, limit=BATCH)
        if not batch:
            return
        yield batch
        position = batch[-1].sequence_number or position


async def _artifacts(store: SessionStore, session_id: str) -> AsyncIterator[ArtifactRecord]:
    if not isinstance(store, ArtifactRegistry):
        return
    registry = store
    async for page in pages(
        lambda cursor: registry.list_artifact_records(session_id, limit=MAX_PAGE_SIZE, cursor=cursor)
    ):
        for record in page.items:
            yield record


def _line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)


def _lines(
    session: Session, runs: Sequence[Run], events: Sequence[Event], artifacts: Sequence[ArtifactRecord]
) -> list[bytes]:
    return [
        _line({"kind": "header", "format": EXPORT_FORMAT, "version": EXPORT_VERSION}),
        _line({"kind": "session", "session": session.to_dict()}),
        *(_line({"kind": "run", "run": run.to_dict()}) for run in runs),
        *(event_line(event) for event in events),
        *(_line({"kind": "artifact", "artifact": record.to_dict()}) for record in artifacts),
        _line({"kind": "end", "runs": len(runs), "events": len(events), "artifacts": len(artifacts)}),
    ]


# -- parsing -------------------------------------------------------------------------------------


def _loads(data: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}", details={"field": what}) from None


def _parse_document(document: Any) -> SessionExport:
    if not isinstance(document, dict):
        raise ValidationError("an export document must be a JSON object", details={"field": "export"})
    _check_header(document)
    try:
        return SessionExport(
            session=Session.from_dict(document["session"]),
            runs=[Run.from_dict(item) for item in document["runs"]],
            events=[Event.from_dict(item) for item in document["events"]],
            artifacts=[ArtifactRecord.from_dict(item) for item in document["artifacts"]],
        )
    except (KeyError, TypeError) as exc:
        raise ValidationError(f"export document is incomplete: {exc}", details={"field": "export"}) from None


def _check_header(record: dict[str, Any]) -> None:
    if record.get("format") != EXPORT_FORMAT or record.get("version") != EXPORT_VERSION:
        raise ValidationError(
            f"not a {EXPORT_FORMAT} version {EXPORT_VERSION} export",
            details={"format": record.get("format"), "version": record.get("version")},
        )


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "session": Session.from_dict,
    "run": Run.from_dict,
    "event": Event.from_dict,
    "artifact": ArtifactRecord.from_dict,
}


class _LineReader:
    """Parses JSON Lines of the export format one line at a time, checking their order and the trailer."""

    _ORDER: ClassVar[dict[str, int]] = {
        "header": 0,
        "session": 1,
        "run": 2,
        "event": 3,
        "artifact": 4,
        "end": 5,
    }

    def __init__(self) -> None:
        self.stage = -1
        self.session: Session | None = None
        self.runs: list[Run] = []
        self.events: list[Event] = []
        self.artifacts: list[ArtifactRecord] = []
        self.ended = False

    def parse(self, line: bytes | str) -> tuple[str, Any] | None:
        """The `(kind, model)` of one line (None for blank lines and the header)."""
        if not line.strip():
            return None
        if self.ended:
            raise ValidationError("export has content after its end line", details={"field": "export"})
        record = _loads(line, "export line")
        kind = record.get("kind") if isinstance(record, dict) else None
        stage = self._ORDER.get(kind) if isinstance(kind, str) else None
        in_order = stage is not None and (
            (stage == 0 and self.stage == -1)
            or (stage == 1 and self.stage == 0)
            or (stage >= 2 and stage >= self.stage >= 1)
        )
        if not in_order:
            raise ValidationError(
                f"unexpected export line of kind {kind!r} (expected header, session, runs, events, "
                "artifacts, end)",
                details={"field": "export"},
            )
        assert stage is not None and isinstance(kind, str)
        self.stage = stage
        try:
            if kind == "header":
                _check_header(record)
                return None
            if kind == "end":
                self.ended = True
                return kind, {name: record[name] for name in ("runs", "events", "artifacts")}
            return kind, _PARSERS[kind](record[kind])
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"export line is incomplete: {exc}", details={"field": "export"}) from None

    def feed(self, line: bytes | str) -> None:
        parsed = self.parse(line)
        if parsed is None:
            return
        kind, value = parsed
        if kind == "session":
            self.session = value
        elif kind in ("run", "event", "artifact"):
            getattr(self, f"{kind}s").append(value)
        else:
            self.check_end(value, len(self.runs), len(self.events), len(self.artifacts))

    @staticmethod
    def check_end(counts: dict[str, Any], runs: int, events: int, artifacts: int) -> None:
        if counts != {"runs": runs, "events": events, "artifacts": artifacts}:
            raise ValidationError(
                "export end line does not match its content (truncated or edited)",
                details={"expected": counts, "found": [runs, events, artifacts]},
            )

    def finish(self) -> SessionExport:
        if not self.ended or self.session is None:
            raise ValidationError("export is truncated: no end line", details={"field": "export"})
        return SessionExport(
            session=self.session, runs=self.runs, events=self.events, artifacts=self.artifacts
        )


# -- import --------------------------------------------------------------------------------------


async def import_session(
    store: SessionStore,
    source: SessionExport | bytes | str | Iterable[bytes | str] | AsyncIterable[bytes | str],
) -> ImportResult:
    """Load an export into `store`: a `SessionExport`, a JSON document (bytes/str), or JSON Lines as an
    iterable or async iterable of chunks (lines, or any slices of the byte stream, e.g. what
    `stream_session_jsonl` yields or a file read in blocks), written in batches. All or nothing; see
    the module docstring."""
    if isinstance(source, SessionExport):
        return await _import_lines(store, _aiter(source.to_jsonl()))
    if isinstance(source, bytes | str):
        if _is_json_lines(source):
            return await _import_lines(store, _aiter([source]))
        return await _import_lines(store, _aiter(SessionExport.from_json(source).to_jsonl()))
    if isinstance(source, AsyncIterable):
        return await _import_lines(store, source)
    return await _import_lines(store, _aiter(source))


def _is_json_lines(document: bytes | str) -> bool:
    """Whether a whole document is JSON Lines (one object per line) rather than one JSON document:
    its first line is a complete JSON value followed by more lines."""
    data = document.encode() if isinstance(document, str) else document
    first, newline, rest = data.strip().partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True


async def _aiter(lines: Iterable[bytes | str]) -> AsyncIterator[bytes | str]:
    for line in lines:
        yield line


class _Importer:
    """Writes parsed export lines to a store in batches; remembers what it wrote for the result."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.session: Session | None = None
        self.pending: list[Event] = []
        self.runs = 0
        #: Event lines read (what the end line counts) and events stored (a repeated line stores once).
        self.event_lines = 0
        self.events = 0
        self.event_ids: set[str] = set()
        self.artifacts = 0
        self.renumbered = False

    async def write(self, kind: str, value: Any) -> None:
        if kind == "session":
            await self._start(value)
            return
        if kind != "event":
            await self._flush_events()
        if kind == "run":
            await self.store.save_run(value)
            self.runs += 1
        elif kind == "event":
            self.pending.append(value)
            if len(self.pending) >= BATCH:
                await self._flush_events()
        elif kind == "artifact":
            await self._register(value)
        else:
            _LineReader.check_end(value, self.runs, self.event_lines, self.artifacts)

    async def _start(self, session: Session) -> None:
        try:
            await self.store.get_session(session.id)
        except SessionNotFound:
            pass
        else:
            raise AlreadyExists(
                f"session {session.id!r} already exists in the target store",
                details={"session_id": session.id},
            )
        await self.store.save_session(session)
        self.session = session

    async def _flush_events(self) -> None:
        if not self.pending:
            return
        stored = await self.store.append_events(self.pending)
        for original, written in zip(self.pending, stored, strict=True):
            if written.id != original.id or written.session_id != original.session_id:
                raise AlreadyExists(
                    f"event {original.id!r} already exists in the target store",
                    details={"event_id": original.id},
                )
            if written.sequence_number != original.sequence_number:
                self.renumbered = True
        self.event_lines += len(self.pending)
        new = {event.id for event in stored} - self.event_ids
        self.event_ids |= new
        self.events += len(new)
        self.pending = []

    async def _register(self, record: ArtifactRecord) -> None:
        if not isinstance(self.store, ArtifactRegistry):
            raise ValidationError("the target store keeps no artifact records", details={"key": record.key})
        try:
            await self.store.get_artifact_record(record.key)
        except NotFound:
            pass
        else:  # registering would move another session's record here (and the rollback would delete it)
            raise AlreadyExists(
                f"artifact record {record.key!r} already exists in the target store",
                details={"key": record.key},
            )
        await self.store.register_artifact(record)
        self.artifacts += 1


async def _split_lines(chunks: AsyncIterable[bytes | str]) -> AsyncIterator[bytes]:
    """Lines from chunks of any size: a chunk may hold several lines or part of one."""
    pending = b""
    async for chunk in chunks:
        data = pending + (chunk.encode() if isinstance(chunk, str) else bytes(chunk))
        *complete, pending = data.split(b"\n")
        for line in complete:
            yield line
    if pending:
        yield pending


async def _import_lines(store: SessionStore, chunks: AsyncIterable[bytes | str]) -> ImportResult:
    reader = _LineReader()
    importer = _Importer(store)
    try:
        async for line in _split_lines(chunks):
            parsed = reader.parse(line)
            if parsed is not None:
                await importer.write(*parsed)
        if not reader.ended:
            raise ValidationError("export is truncated: no end line", details={"field": "export"})
    except BaseException:
        if importer.session is not None:
            await store.delete_session(importer.session.id)
        raise
    assert importer.session is not None
    return ImportResult(
        session_id=importer.session.id,
        runs=importer.runs,
        events=importer.events,
        artifacts=importer.artifacts,
        renumbered=importer.renumbered,
    )
