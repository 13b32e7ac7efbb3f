"""The two JSON dialects of Strands snapshots, and the translation between them.

Strands writes one snapshot document in two spellings. The TypeScript SDK (and we, by default) use
camelCase: `{"scope", "schemaVersion", "createdAt", "data", "appData"}` with agent `data` keys
`messages`, `state`, `systemPrompt`, `modelState`, `interrupts`. The Python SDK (strands-agents 1.6x,
`Snapshot.to_dict()`) uses snake_case: `schema_version`, `created_at`, `app_data`, with `data` keys
`system_prompt`, `model_state`, `interrupt_state`, `conversation_manager_state` (and
`orchestrator_id` for orchestrators). Neither SDK reads the other's spelling, so one bucket can only be
shared if documents are translated on the way in and out.

Decisions:

* In memory a document is always in the TypeScript spelling (`canonical`): what our `Snapshot` model
  holds whatever was stored. `render` spells it in the dialect a storage is configured for.
* Only names Strands owns are renamed: the document's fields, the known `data` keys and the keys of
  the interrupt state inside it. `appData` (the application's) and message contents are never
  touched; an unknown `data` key keeps its name.
* Translation is lossless in both directions except one case: a TypeScript `"interrupts": null`
  (no interrupt state) has no Python spelling (Python cannot load a null interrupt state), so it is
  left out of a Python document. Python's interrupt `context` and TypeScript's `resumeResponses` ride
  along under their own names.
* A document in neither dialect (no `schemaVersion`/`schema_version`, or both spellings mixed) is
  `validation_error` naming the key that decides it.
* Layout is orthogonal to dialect: the newer SDKs write under a `session/` namespace
  (`session/<session_id>/scopes/...`, compact JSON); the archived TypeScript `S3Storage`/`FileStorage`
  wrote `<session_id>/scopes/...` pretty-printed. Storages take a `namespace` for the former.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from ..core.errors import ValidationError

__all__ = ["FORMATS", "Format", "canonical", "check_format", "dialect_of", "render"]

Format = Literal["typescript", "python"]
FORMATS: tuple[Format, ...] = ("typescript", "python")

#: Document fields, TypeScript name -> Python name.
_FIELDS = {"schemaVersion": "schema_version", "createdAt": "created_at", "appData": "app_data"}
_MANIFEST_FIELDS = {"schemaVersion": "schema_version", "updatedAt": "updated_at"}
#: Strands-owned `data` keys.
_DATA = {
    "systemPrompt": "system_prompt",
    "modelState": "model_state",
    "interrupts": "interrupt_state",
    "conversationManagerState": "conversation_manager_state",
    "orchestratorId": "orchestrator_id",
}
#: Keys of the interrupt state (`data.interrupts` / `data.interrupt_state`).
_INTERRUPTS = {"pendingToolExecution": "pending_tool_execution"}


def check_format(value: object) -> Format:
    """`value` if it names a dialect (`"typescript"` or `"python"`), else `validation_error`."""
    if value not in FORMATS:
        raise ValidationError(
            f"format must be 'typescript' or 'python', got {value!r}", details={"field": "format"}
        )
    return value


def dialect_of(document: dict[str, Any], where: str, *, manifest: bool = False) -> Format:
    """Which dialect `document` is written in; `validation_error` naming the key when neither."""
    fields = _MANIFEST_FIELDS if manifest else _FIELDS
    camel = [name for name in fields if name in document]
    snake = [name for name in fields.values() if name in document]
    if camel and snake:
        raise ValidationError(
            f"{where!r} mixes the TypeScript key {camel[0]!r} with the Python key {snake[0]!r}; "
            "a Strands document uses one dialect",
            details={"key": where, "field": snake[0]},
        )
    if camel:
        return "typescript"
    if snake:
        return "python"
    raise ValidationError(
        f"{where!r} is in neither Strands dialect: it has no 'schemaVersion' (TypeScript) or "
        "'schema_version' (Python) key",
        details={"key": where, "field": "schemaVersion"},
    )


def canonical(document: dict[str, Any], where: str, *, manifest: bool = False) -> dict[str, Any]:
    """`document` in the TypeScript spelling (unchanged if it already is)."""
    if dialect_of(document, where, manifest=manifest) == "typescript":
        return document
    return _translate(document, manifest=manifest, to_python=False)


def render(document: dict[str, Any], format: Format, *, manifest: bool = False, compact: bool) -> bytes:
    """A TypeScript-spelled `document` as JSON bytes in `format`: compact, or 2-space indented."""
    if format == "python":
        document = _translate(document, manifest=manifest, to_python=True)
    return orjson.dumps(document, option=0 if compact else orjson.OPT_INDENT_2)


def _translate(document: dict[str, Any], *, manifest: bool, to_python: bool) -> dict[str, Any]:
    fields = _MANIFEST_FIELDS if manifest else _FIELDS
    result = {_rename(name, fields, to_python): value for name, value in document.items()}
    data = result.get("data")
    if isinstance(data, dict):
        result["data"] = _translate_data(data, to_python)
    return result


def _translate_data(data: dict[str, Any], to_python: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in data.items():
        renamed = _rename(name, _DATA, to_python)
        if renamed in ("interrupts", "interrupt_state"):
            if value is None and to_python:
                continue
            if isinstance(value, dict):
                value = {_rename(key, _INTERRUPTS, to_python): item for key, item in value.items()}
                if to_python:
                    value.setdefault("context", {})
        result[renamed] = value
    return result


def _rename(name: str, names: dict[str, str], to_python: bool) -> str:
    if to_python:
        return names.get(name, name)
    for camel, snake in names.items():
        if snake == name:
            return camel
    return name
