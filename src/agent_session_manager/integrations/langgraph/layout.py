"""How a LangGraph thread is laid out in one of our sessions, and how the log folds back into checkpoints.

A thread is one session (`agent_id="langgraph"`, status `active`, the original thread id in
`metadata["langgraph"]["thread_id"]`). Its id is `lg:<thread_id>` when that is a valid session id, else
`lg_<sha256 of the thread id>`; the original is always read back from the metadata, so the mapping is
reversible. The session's log holds:

* `langgraph.checkpoint`, one per `put`: `{ns, id, parent, checkpoint, metadata, run_id, values}`.
  `checkpoint` and `metadata` are the serializer's typed bytes (`[type, base64]`, lossless), the
  checkpoint without its channel values. `values` maps each channel of `new_versions` to
  `[version, record]`, a record being one of
  - `["full", type, base64]`: the whole value;
  - `["empty"]`: the channel has a version but no value (LangGraph's own savers store `"empty"`);
  - `["same", base_version]`: the value equals the one at `base_version` (nothing stored again);
  - `["append", base_version, [[type, base64], ...]]`: a list that grew: the value at `base_version`
    followed by these new elements, each stored once.
  The base is the channel's version in the parent checkpoint (or the last one this process saw), so a
  conversation of N messages stores N messages, not N²/2. Reading follows the bases back to a `full`
  record; a value already rebuilt is cached, so each read only decodes what is new.
* `langgraph.writes`, one per `put_writes`: `{ns, checkpoint_id, task_id, task_path, writes:
  [[index, channel, type, base64], ...]}`. Folding keeps the first write per `(task_id, index)` and lets a
  later special write (negative index: error, scheduled, interrupt, resume) replace it, as LangGraph does.
* `langgraph.blobs`: full records written by `prune` and `delete_for_runs` for the checkpoints they keep,
  before they delete the events those checkpoints depended on: `{reset: true, values: [[ns, channel,
  version, record], ...]}`. A later record for the same `(ns, channel, version)` replaces an earlier one.
* Core events for the new LangChain messages of a channel, written in the same batch as their checkpoint:
  `message_sent` (human and system messages), `message_received` (AI messages), `tool_call_started` (each
  tool call of an AI message), `tool_call_completed` / `tool_call_failed` (tool messages) and
  `token_usage_updated` (an AI message's `usage_metadata`), each with `metadata["langgraph"]` naming the
  checkpoint. They are a readable view for `asm events`, search and usage; the lossless copy is the
  checkpoint's record, so retention may prune them without breaking any checkpoint.

A value is compared with its base by what it serializes to (per element for a list), never by object
identity, so "same" and "append" are exact even when a caller edited an object in place. The cache holds
objects of its own (new elements are copied once, when written), a cached value is checked against its
serialized form before it is handed out, and a changed one is rebuilt from the records.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP, Checkpoint, writes_sort_key
from langgraph.checkpoint.serde.base import SerializerProtocol

from ...core.errors import ASMError, ValidationError
from ...core.ids import validate_id
from ...core.models import Event, EventType

AGENT_ID = "langgraph"
CHECKPOINT = "langgraph.checkpoint"
WRITES = "langgraph.writes"
BLOBS = "langgraph.blobs"
#: The event types that hold checkpoint state (the message views are not needed to rebuild it).
STATE_TYPES = (CHECKPOINT, WRITES, BLOBS)

Typed = tuple[str, bytes]
Key = tuple[str, str, Any]  # (checkpoint_ns, channel, version)


class _Missing:
    """No stored value for a channel version (LangGraph then leaves the channel out)."""


MISSING = _Missing()


def session_id_for(thread_id: str) -> str:
    """The session id of a LangGraph thread: `lg:<thread_id>`, or `lg_<sha256>` when that is not valid."""
    candidate = f"lg:{thread_id}"
    try:
        return validate_id(candidate)
    except ASMError:
        return "lg_" + hashlib.sha256(thread_id.encode()).hexdigest()


def encode(typed: Typed) -> list[str]:
    """The serializer's `(type, bytes)` as JSON: `[type, base64]`."""
    return [typed[0], base64.b64encode(typed[1]).decode("ascii")]


def decode(value: list[Any]) -> Typed:
    """Back from `encode`."""
    return (value[0], base64.b64decode(value[1]))


@dataclass(slots=True)
class CheckpointRecord:
    """One checkpoint of the thread, as its newest `langgraph.checkpoint` event stores it."""

    event_id: str
    ns: str
    id: str
    parent: str | None
    checkpoint: list[str]
    metadata: list[str]
    run_id: str | None
    versions: dict[str, Any] | None = None


@dataclass(slots=True)
class WriteRecord:
    task_id: str
    channel: str
    value: list[str]
    task_path: str
    event_id: str


class Thread:
    """The fold of one thread's state events: checkpoints, channel records and pending writes.

    `apply` takes events in sequence order; an event that cannot be applied in place (a `reset` written
    by pruning) makes it return False, and the caller folds the log again from the start.
    """

    def __init__(self, session_id: str, serde: SerializerProtocol) -> None:
        self.session_id = session_id
        self.exists = False
        self.last_seq = 0
        self.last_id: str | None = None
        self.checkpoints: dict[str, dict[str, CheckpointRecord]] = {}
        self.superseded: set[str] = set()
        self.records: dict[Key, tuple[list[Any], str]] = {}
        self.writes: dict[tuple[str, str], dict[tuple[str, int], WriteRecord]] = {}
        self.write_events: dict[str, tuple[str, str]] = {}
        self._serde = serde
        self._loads = serde.loads_typed
        # Per channel, the last value rebuilt or written: (version, value, fingerprint).
        self._latest_value: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def take(self, other: Thread, *, keep_values: bool) -> None:
        """Become `other` (a fresh fold of the same thread), keeping the cached values if asked."""
        values = self._latest_value
        for name in (
            "exists",
            "last_seq",
            "last_id",
            "checkpoints",
            "superseded",
            "records",
            "writes",
            "write_events",
        ):
            setattr(self, name, getattr(other, name))
        self._latest_value = {**other._latest_value, **values} if keep_values else other._latest_value

    # -- folding -------------------------------------------------------------------------------------

    def apply(self, event: Event, *, incremental: bool) -> bool:
        """Fold one event in; False when `incremental` and the thread must be folded again from the
        start (pruning deleted events it holds)."""
        assert event.sequence_number is not None
        if event.sequence_number <= self.last_seq:
            return True
        data = event.data
        if event.type == CHECKPOINT:
            self._apply_checkpoint(event.id, data)
        elif event.type == WRITES:
            self._apply_writes(event.id, data)
        elif event.type == BLOBS:
            if data.get("reset") and incremental:
                return False
            for ns, channel, version, record in data["values"]:
                self._set_record((ns, channel, version), record, event.id)
        self.last_seq = event.sequence_number
        self.last_id = event.id
        return True

    def _apply_checkpoint(self, event_id: str, data: Mapping[str, Any]) -> None:
        ns = data["ns"]
        for channel, (version, record) in data["values"].items():
            self._set_record((ns, channel, version), record, event_id)
        by_id = self.checkpoints.setdefault(ns, {})
        previous = by_id.get(data["id"])
        if previous is not None:
            self.superseded.add(previous.event_id)
        by_id[data["id"]] = CheckpointRecord(
            event_id=event_id,
            ns=ns,
            id=data["id"],
            parent=data["parent"],
            checkpoint=data["checkpoint"],
            metadata=data["metadata"],
            run_id=data.get("run_id"),
        )

    def _apply_writes(self, event_id: str, data: Mapping[str, Any]) -> None:
        key = (data["ns"], data["checkpoint_id"])
        self.write_events[event_id] = key
        stored = self.writes.setdefault(key, {})
        for index, channel, type_, payload in data["writes"]:
            inner = (data["task_id"], index)
            if index >= 0 and inner in stored:
                continue
            stored[inner] = WriteRecord(
                data["task_id"], channel, [type_, payload], data["task_path"], event_id
            )

    def _set_record(self, key: Key, record: list[Any], event_id: str) -> None:
        self.records[key] = (record, event_id)

    # -- reading -------------------------------------------------------------------------------------

    def checkpoint_versions(self, record: CheckpointRecord) -> dict[str, Any]:
        """The channel versions of a checkpoint (decoded once)."""
        if record.versions is None:
            decoded: Checkpoint = self._loads(decode(record.checkpoint))
            record.versions = dict(decoded["channel_versions"])
        return record.versions

    def latest(self, ns: str) -> CheckpointRecord | None:
        by_id = self.checkpoints.get(ns)
        return by_id[max(by_id)] if by_id else None

    def chain(self, key: Key) -> list[Key]:
        """The records `key` is built from, newest first, down to a `full` one (or a missing one)."""
        keys = [key]
        while (found := self.records.get(keys[-1])) is not None and found[0][0] in ("same", "append"):
            keys.append((key[0], key[1], found[0][1]))
        return keys

    def fingerprint(self, value: Any) -> Any:
        """What a value serializes to: per element for a list (so a grown list is recognised by its
        prefix), else whole. Comparing fingerprints, never objects, is what makes the references exact
        even when a caller changed an object in place (LangGraph's own tests edit `get_state` results)."""
        if type(value) is list:
            return [self._serde.dumps_typed(item) for item in value]
        return self._serde.dumps_typed(value)

    def cached(self, ns: str, channel: str, version: Any) -> tuple[Any, Any] | None:
        """The cached `(value, fingerprint)` of `channel` at `version`, if it is the one cached."""
        latest = self._latest_value.get((ns, channel))
        if latest is None or latest[0] != version or type(latest[0]) is not type(version):
            return None
        return latest[1], latest[2]

    def value(self, ns: str, channel: str, version: Any, *, verify: bool = False) -> Any:
        """The value of `channel` at `version`, or `MISSING`; rebuilt values are cached per channel.

        With `verify`, a cached value is first checked against its fingerprint, and rebuilt from the
        records when someone changed it in place since (the value is about to be handed out).
        """
        steps: list[list[Any]] = []
        current = version
        from_cache = False
        while True:
            hit = self.cached(ns, channel, current)
            if hit is not None and not (verify and self.fingerprint(hit[0]) != hit[1]):
                value, from_cache = hit[0], True
                break
            found = self.records.get((ns, channel, current))
            if found is None or found[0][0] == "empty":
                return MISSING
            record = found[0]
            if record[0] == "full":
                value = self._loads((record[1], base64.b64decode(record[2])))
                break
            steps.append(record)
            current = record[1]
        for record in reversed(steps):
            if record[0] == "append":
                value = [*value, *(self._loads(decode(item)) for item in record[2])]
        if from_cache and not steps:
            return value
        self._latest_value[(ns, channel)] = (version, value, self.fingerprint(value))
        return value

    def remember(self, ns: str, channel: str, version: Any, value: Any, fingerprint: Any) -> None:
        """Cache the value just written for `channel` at `version` (the next put compares against it)."""
        self._latest_value[(ns, channel)] = (version, value, fingerprint)

    def latest_version(self, ns: str, channel: str) -> Any:
        """The version of the value cached for `channel` (None: none)."""
        latest = self._latest_value.get((ns, channel))
        return None if latest is None else latest[0]

    def pending_writes(self, ns: str, checkpoint_id: str) -> list[tuple[str, str, Any]]:
        """The checkpoint's pending writes in `writes_sort_key` order, decoded."""
        stored = self.writes.get((ns, checkpoint_id), {})
        ordered = sorted(stored, key=lambda k: writes_sort_key(stored[k].task_path, *k))
        return [(stored[k].task_id, stored[k].channel, self._loads(decode(stored[k].value))) for k in ordered]

    def all_checkpoints(self) -> Iterator[CheckpointRecord]:
        for by_id in self.checkpoints.values():
            yield from by_id.values()


def write_index(channel: str, position: int) -> int:
    """The index LangGraph keys a write by: its special index, or its position in the batch."""
    return WRITES_IDX_MAP.get(channel, position)


def make_record(
    thread: Thread, serde: SerializerProtocol, ns: str, channel: str, value: Any, base: Any
) -> tuple[list[Any], list[Any], Any, Any]:
    """The record for `channel`'s new value, the list elements it stores for the first time, the
    value's fingerprint (see `Thread.fingerprint`) and a private equal of the value for the cache
    (unchanged elements are the cache's own objects; new ones are copied, so nothing the graph's nodes
    keep is ever handed out).

    `base` is the version to compare against (None: none).
    """
    if value is MISSING:
        return ["empty"], [], None, None
    fingerprint = thread.fingerprint(value)
    before = None
    if base is not None and thread.value(ns, channel, base) is not MISSING:
        before = thread.cached(ns, channel, base)
    if before is not None:
        kept, old = before
        if fingerprint == old:
            return ["same", base], [], fingerprint, kept
        if type(fingerprint) is list and type(old) is list and fingerprint[: len(old)] == old:
            new = value[len(old) :]
            items = [encode(item) for item in fingerprint[len(old) :]]
            return ["append", base, items], new, fingerprint, [*kept, *copy.deepcopy(new)]
        return ["full", *encode(serde.dumps_typed(value))], [], fingerprint, copy.deepcopy(value)
    first = list(value) if base is None and type(value) is list else []
    return ["full", *encode(serde.dumps_typed(value))], first, fingerprint, copy.deepcopy(value)


def full_record(serde: SerializerProtocol, value: Any) -> list[Any]:
    """A self-contained record of `value` (`empty` for `MISSING`)."""
    if value is MISSING:
        return ["empty"]
    return ["full", *encode(serde.dumps_typed(value))]


def checkpoint_data(
    *,
    serde: SerializerProtocol,
    ns: str,
    checkpoint: Mapping[str, Any],
    parent: str | None,
    metadata: Mapping[str, Any],
    values: Mapping[str, list[Any]],
) -> dict[str, Any]:
    """The `data` of a `langgraph.checkpoint` event (the checkpoint without its channel values)."""
    run_id = metadata.get("run_id")
    return {
        "ns": ns,
        "id": checkpoint["id"],
        "parent": parent,
        "checkpoint": encode(serde.dumps_typed(checkpoint)),
        "metadata": encode(serde.dumps_typed(dict(metadata))),
        "run_id": None if run_id is None else str(run_id),
        "values": dict(values),
    }


# -- the message views -------------------------------------------------------------------------------


def message_events(
    session_id: str, items: Iterable[Any], *, ns: str, checkpoint_id: str, channel: str
) -> list[Event]:
    """Core events for the LangChain messages among `items` (other values have no core equivalent)."""
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

    where = {"langgraph": {"checkpoint_ns": ns, "checkpoint_id": checkpoint_id, "channel": channel}}
    events: list[tuple[EventType, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, BaseMessage):
            continue
        base = {"message_id": item.id} if item.id else {}
        if isinstance(item, AIMessage):
            events.append((EventType.MESSAGE_RECEIVED, {**base, "role": "assistant", "content": item.text}))
            for call in item.tool_calls:
                events.append(
                    (
                        EventType.TOOL_CALL_STARTED,
                        {
                            "tool_call_id": call.get("id"),
                            "tool_name": call["name"],
                            "tool_input": call["args"],
                        },
                    )
                )
            if item.usage_metadata:
                events.append((EventType.TOKEN_USAGE_UPDATED, _usage(item.usage_metadata)))
        elif isinstance(item, ToolMessage):
            kind = EventType.TOOL_CALL_FAILED if item.status == "error" else EventType.TOOL_CALL_COMPLETED
            events.append(
                (
                    kind,
                    {
                        **base,
                        "tool_call_id": item.tool_call_id,
                        "tool_name": item.name or "",
                        "tool_output": item.text,
                    },
                )
            )
        else:
            role = {"human": "user"}.get(item.type, item.type)
            events.append((EventType.MESSAGE_SENT, {**base, "role": role, "content": item.text}))
    return [_view(session_id, kind, data, where) for kind, data in events]


def _usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    details = usage.get("input_token_details") or {}
    data = {
        "input_tokens": usage.get("input_tokens", 0),
        "output_tokens": usage.get("output_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }
    if "cache_read" in details:
        data["cache_read_tokens"] = details["cache_read"]
    if "cache_creation" in details:
        data["cache_creation_tokens"] = details["cache_creation"]
    return data


def _view(session_id: str, kind: EventType, data: dict[str, Any], where: dict[str, Any]) -> Event:
    try:
        return Event(type=kind, session_id=session_id, data=data, metadata=where)
    except ValidationError:
        # A value our JSON rules refuse (a NUL in a tool's output, say): the view keeps what it can; the
        # checkpoint record holds the message exactly.
        safe = {k: v for k, v in data.items() if isinstance(v, str) and "\x00" not in v}
        return Event(type=kind, session_id=session_id, data={**safe, "unrepresentable": True}, metadata=where)
