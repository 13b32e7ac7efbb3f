"""One registry of the backends held to the contract suites, each with its documented divergences.

Every contract class (`SessionStoreContract`, `QueryAPIContract`, `ArtifactStoreContract`, ...) derives
from `Contract`. A test class names its backend; a divergence recorded for that backend turns the named
test into a strict expected failure: it must fail, its reason is shown in the report, and the day the
backend stops diverging the suite fails until the record is removed. Ours and third parties' use the
same mechanism::

    from agent_session_manager.testing import SessionStoreContract, register_backend

    register_backend("redis", divergences={
        "test_cursor_paging_visits_each_session_once": "SCAN order is not creation order",
    })

    class TestRedisStore(SessionStoreContract):
        backend = "redis"

        async def new_store(self):
            return await RedisStore.connect(...)

Our own backends are registered below. None of them diverges from any contract today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

import pytest


@dataclass(frozen=True)
class Backend:
    """A backend held to the contracts: its name and, per contract test name, why it differs."""

    name: str
    divergences: Mapping[str, str] = field(default_factory=dict)


_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, divergences: Mapping[str, str] | None = None) -> Backend:
    """Record a backend and its divergences (test function name -> documented reason).

    Args:
        name: what test classes put in their `backend` attribute.
        divergences: the contract tests this backend is known to fail, each with the reason.

    Returns:
        The registered `Backend` (registering a name again replaces it).
    """
    backend = Backend(name, MappingProxyType(dict(divergences or {})))
    _BACKENDS[name] = backend
    return backend


def backends() -> Mapping[str, Backend]:
    """Every registered backend, by name."""
    return MappingProxyType(_BACKENDS)


def divergence(backend: str | None, test: str) -> str | None:
    """The documented reason why `backend` fails `test`, or `None` when it must pass."""
    if backend is None:
        return None
    known = _BACKENDS.get(backend)
    if known is None:
        raise LookupError(f"backend {backend!r} is not registered; call register_backend({backend!r})")
    return known.divergences.get(test)


class Contract:
    """Base of every contract suite: applies the backend's documented divergences (strict xfail)."""

    #: The registered backend this test class exercises (`None`: held to every test).
    backend: ClassVar[str | None] = None

    @pytest.fixture(autouse=True)
    def _documented_divergence(self, request: pytest.FixtureRequest) -> None:
        reason = divergence(self.backend, request.node.originalname)
        if reason is not None:
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


for _name in ("memory", "sqlite", "postgresql", "composite", "file", "s3"):
    register_backend(_name)
