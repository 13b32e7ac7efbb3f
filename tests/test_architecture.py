"""Architecture rules that hold for the whole package, checked on its source text."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "agent_session_manager"


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_source_cites_documents_the_package_does_not_ship() -> None:
    cited = re.compile(r"(?i:\bseed\b)|\bDESIGN\b|reference/asm")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if cited.search(line)
    ]
    assert found == []


def test_session_manager_keeps_the_lifecycle_only() -> None:
    lines = (PACKAGE / "manager" / "session_manager.py").read_text().count("\n")
    assert lines < 450
