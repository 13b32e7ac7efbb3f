"""The one SQL dialect abstraction and the one statement builder of the SQL stores.

`Dialect` (one instance per engine, `SQLITE` and `POSTGRES`) says how an engine takes values (timestamps,
JSON documents, tag lists) and spells what the engines spell differently: lists (`= ANY($1::text[])` vs
`IN (SELECT value FROM json_each(?1))`), tag containment (`tags @> $1` on a GIN index vs `json_each`),
and JSON numbers in `token_usage` (the token rule of `core.usage`, spelled in SQL and checked against the
Python one by the query contract suite).

`SqlText` builds one statement: conditions and parameters, numbered `$1`, `$2`, ... as they are added.
Statements are written once in PostgreSQL's `$n` style; `Dialect.sql` turns them into SQLite's `?n`.
The store, the query API and maintenance all build their SQL with these two.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ...core.usage import COUNTERS, TOKEN_KEYS, TOTAL

#: A `$n` parameter with an optional PostgreSQL cast (`$3::jsonb`); SQLite takes `?n` and no cast.
_PLACEHOLDER = re.compile(r"\$(\d+)(?:::[a-z_0-9]+(?:\[\])?)?")


def _utc_text(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" -> "Z"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _aware(value: datetime) -> datetime:
    """A `timestamptz` as asyncpg returns it: aware, except `datetime.max`/`datetime.min`, which it
    writes as PostgreSQL's infinity/-infinity and reads back naive; those are UTC too."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Dialect:
    """How one engine spells what the engines spell differently: parameters, timestamps, JSON documents
    and tag lists (as values), list and tag conditions and JSON token counters (as SQL)."""

    name: str
    #: `$1`-style SQL as the driver takes it (PostgreSQL: unchanged; SQLite: `?1`).
    sql: Callable[[str], str]
    timestamp_in: Callable[[datetime], Any]
    timestamp_out: Callable[[Any], datetime]
    #: JSON document -> parameter (serialised once, by orjson, as text).
    json_in: Callable[[Any], Any]
    json_out: Callable[[Any], Any]
    tags_in: Callable[[list[str]], Any]
    tags_out: Callable[[Any], list[str]]

    def ts(self, value: datetime | None) -> Any:
        return None if value is None else self.timestamp_in(value)

    def ts_out(self, value: Any) -> datetime | None:
        return None if value is None else self.timestamp_out(value)

    def doc(self, value: Any) -> Any:
        return None if value is None else self.json_in(value)

    def doc_out(self, value: Any) -> Any:
        return None if value is None else self.json_out(value)

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def text(self) -> SqlText:
        """A new statement builder for this engine."""
        return SqlText(self)

    # -- lists and tags (the value goes in one parameter whatever its length) ------------------------

    def list_in(self, values: Sequence[str]) -> Any:
        """A list of strings as one parameter (PostgreSQL `text[]`; SQLite a JSON array)."""
        return list(values) if self.postgres else orjson.dumps(list(values)).decode()

    def in_list(self, column: str, param: str) -> str:
        """`column` is one of the strings in the list parameter `param`."""
        if self.postgres:
            return f"{column} = ANY({param}::text[])"
        return f"{column} IN (SELECT value FROM json_each({param}))"

    def has_all_tags(self, column: str, param: str, count: int) -> str:
        """The tag list `column` holds every one of the `count` distinct tags of `param`."""
        if self.postgres:
            return f"{column} @> {param}::text[]"
        return (
            f"(SELECT count(DISTINCT t.value) FROM json_each({column}) t "
            f"WHERE t.value IN (SELECT value FROM json_each({param}))) = {count}"
        )

    def has_any_tag(self, column: str, param: str) -> str:
        """The tag list `column` holds at least one tag of `param`."""
        if self.postgres:
            return f"{column} && {param}::text[]"
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}) t "
            f"WHERE t.value IN (SELECT value FROM json_each({param})))"
        )

    # -- JSON numbers in token_usage (the rule of `core.usage`, spelled in SQL) ----------------------

    def _number(self, column: str, key: str) -> str:
        if self.postgres:
            return (
                f"(CASE WHEN jsonb_typeof({column}->'{key}') = 'number' "
                f"THEN trunc(({column}->>'{key}')::numeric)::bigint ELSE 0 END)"
            )
        return (
            f"(CASE WHEN json_type({column}, '$.{key}') IN ('integer', 'real') "
            f"THEN CAST(json_extract({column}, '$.{key}') AS INTEGER) ELSE 0 END)"
        )

    def _present(self, column: str, key: str) -> str:
        if self.postgres:
            return f"{column}->'{key}' IS NOT NULL"
        return f"json_type({column}, '$.{key}') IS NOT NULL"

    def counter(self, column: str, counter: str) -> str:
        """The SQL of one token counter of `core.usage` (first present name wins)."""
        names = dict(COUNTERS)[counter]
        expression = self._number(column, names[-1])
        for name in reversed(names[:-1]):
            present, number = self._present(column, name), self._number(column, name)
            expression = f"(CASE WHEN {present} THEN {number} ELSE {expression} END)"
        return expression

    def total(self, column: str) -> str:
        """A run's total tokens: `total_tokens` if numeric, else the sum of its other counters."""
        parts = " + ".join(self.counter(column, name) for name, _ in COUNTERS)
        if self.postgres:
            numeric = f"jsonb_typeof({column}->'{TOTAL}') = 'number'"
        else:
            numeric = f"json_type({column}, '$.{TOTAL}') IN ('integer', 'real')"
        return f"(CASE WHEN {numeric} THEN {self._number(column, TOTAL)} ELSE {parts} END)"

    def model(self, column: str) -> str:
        """`provider_metadata.model` when it is a string, else NULL."""
        if self.postgres:
            return f"(CASE WHEN jsonb_typeof({column}->'model') = 'string' THEN {column}->>'model' END)"
        return (
            f"(CASE WHEN json_type({column}, '$.model') = 'text' THEN json_extract({column}, '$.model') END)"
        )

    def token_sums(self, column: str) -> str:
        """`sum(...)` of every counter, in `TOKEN_KEYS` order."""
        return ", ".join(f"coalesce(sum({self._counter_or_total(column, key)}), 0)" for key in TOKEN_KEYS)

    def _counter_or_total(self, column: str, key: str) -> str:
        return self.total(column) if key == TOTAL else self.counter(column, key)


SQLITE = Dialect(
    name="sqlite",
    sql=lambda text: _PLACEHOLDER.sub(r"?\1", text),
    timestamp_in=_utc_text,
    timestamp_out=datetime.fromisoformat,
    json_in=_json_text,
    json_out=orjson.loads,
    tags_in=_json_text,
    tags_out=orjson.loads,
)

#: jsonb travels as text through asyncpg's built-in codec (C, no Python call per value): orjson
#: serialises parameters and parses results.
POSTGRES = Dialect(
    name="postgresql",
    sql=_identity,
    timestamp_in=_identity,
    timestamp_out=_aware,
    json_in=_json_text,
    json_out=orjson.loads,
    tags_in=_identity,
    tags_out=list,
)


class SqlText:
    """The parameters of one statement, numbered `$1`, `$2`, ... as they are added."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.args: list[Any] = []
        self.conditions: list[str] = []

    def nested(self) -> SqlText:
        """A statement part with its own conditions that numbers its parameters with this one."""
        child = SqlText(self.dialect)
        child.args = self.args
        return child

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def ts(self, value: datetime) -> str:
        return self.param(self.dialect.timestamp_in(value))

    def where(self, condition: str) -> None:
        self.conditions.append(condition)

    def one_of(self, column: str, values: Iterable[str]) -> str:
        """`column` equals one of `values` (one parameter, whatever the number of values; a single value
        is a plain `=`, which lets the planner use an index's order)."""
        items = list(values)
        if len(items) == 1:
            return f"{column} = {self.param(items[0])}"
        return self.dialect.in_list(column, self.param(self.dialect.list_in(items)))

    def none_of(self, column: str, values: Iterable[str]) -> str:
        return f"NOT ({self.one_of(column, values)})"

    def has_all_tags(self, column: str, tags: Sequence[str]) -> str:
        return self.dialect.has_all_tags(column, self.param(self.dialect.list_in(tags)), len(tags))

    def has_any_tag(self, column: str, tags: Iterable[str]) -> str:
        return self.dialect.has_any_tag(column, self.param(self.dialect.list_in(sorted(tags))))

    def keyset(self, columns: Sequence[str], after: Sequence[Any] | None, *, descending: bool) -> str:
        """Add the "after the cursor" condition (`after`: the last row's sort key); return ORDER BY."""
        direction = "DESC" if descending else "ASC"
        if after is not None:
            values = [self.ts(v) if isinstance(v, datetime) else self.param(v) for v in after]
            self.where(self.after(columns, values, descending))
        return ", ".join(f"{column} {direction}" for column in columns)

    @staticmethod
    def after(columns: Sequence[str], values: Sequence[str], descending: bool = False) -> str:
        """`(columns) > (values)` (`<` when descending), plus the same bound on the first column alone:
        an index on that column alone cannot use the row comparison, and would otherwise start from
        its first entry (and, after deletes, wade through dead entries) on every page."""
        op = "<" if descending else ">"
        return f"{columns[0]} {op}= {values[0]} AND ({', '.join(columns)}) {op} ({', '.join(values)})"

    def sql(self, head: str, tail: str = "") -> str:
        where = f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
        return f"{head}{where}{tail}"
