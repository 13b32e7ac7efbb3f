"""Architecture rules that hold for the whole package, checked on its source text."""

from __future__ import annotations

import ast
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


def test_query_and_maintenance_use_only_public_names_of_the_backends() -> None:
    """Each backend owns its internals: `query/` and `maintenance/` import no private name and read no
    private attribute of another package (their own modules' private names are theirs to use)."""
    leaks = []
    for package in ("query", "maintenance"):
        for path in sorted((PACKAGE / package).glob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and not (node.level == 1 and node.module):
                    leaks += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "store"
                ):
                    leaks.append(f"{path.name}:{node.lineno}: store.{node.attr}")
    assert leaks == []


def test_no_isinstance_dispatch_on_concrete_store_classes() -> None:
    """The query API and maintenance come from the store (its `query_api()` / `maintenance_api()`), so
    nothing tests for one of our store classes to pick an implementation."""
    concrete = re.compile(r"isinstance\([^)]*\b(InMemory|SQL|SQLite|Postgres|Composite)SessionStore\b")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if concrete.search(line) and not line.strip().startswith("assert ")
    ]
    assert found == []
