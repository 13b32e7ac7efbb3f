"""The README's examples of the core primitives and of the framework integrations run as written (each
block is a whole script; the framework examples run offline, in a fresh directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "### Primitives for agent frameworks"
#: Sections with one runnable example each, ending at the next `## ` heading.
FRAMEWORKS = ("## OpenAI Agents SDK", "## Pydantic AI")


def _blocks(heading: str = SECTION, end: str = "\n### ") -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    stop = text.index(end, start + len(heading))
    return re.findall(r"```python\n(.*?)```", text[start:stop], flags=re.DOTALL)


def test_the_section_has_examples() -> None:
    assert len(_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_primitive_example_runs(index: int) -> None:
    exec(compile(_blocks()[index], f"README.md[{SECTION} #{index}]", "exec"), {"__name__": "__main__"})


@pytest.mark.parametrize("heading", FRAMEWORKS)
def test_framework_example_runs(heading: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (block,) = _blocks(heading, "\n## ")
    try:
        exec(compile(block, f"README.md[{heading}]", "exec"), {"__name__": "__main__"})
    finally:
        if heading == "## OpenAI Agents SDK":
            import agents

            agents.set_trace_processors([])  # the example installs its processor process-wide
    assert (tmp_path / ".asm" / "asm.db").exists()


#: Sections whose every example is a whole script: state documents, the sync portal, create-only puts.
WHOLE_SCRIPTS = (
    ("### State documents", "\n### "),
    ("### Sync callers and framework bridges", "\n## "),
    ("Versioned keys with create-only puts", "\n`asm.open_composite_store"),
)


@pytest.mark.parametrize(("heading", "end"), WHOLE_SCRIPTS)
def test_state_portal_and_create_only_examples_run(heading: str, end: str) -> None:
    (block,) = _blocks(heading, end)
    exec(compile(block, f"README.md[{heading}]", "exec"), {"__name__": "__main__"})
