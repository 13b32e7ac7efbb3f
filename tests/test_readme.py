"""The README's examples of the core primitives run as written (each block is a whole script)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "### Primitives for agent frameworks"


def _blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n### ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


def test_the_section_has_examples() -> None:
    assert len(_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_primitive_example_runs(index: int) -> None:
    exec(compile(_blocks()[index], f"README.md[{SECTION} #{index}]", "exec"), {"__name__": "__main__"})
