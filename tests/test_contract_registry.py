"""The contract registry: a backend's documented divergences make those tests strict expected failures,
for our backends and third parties' alike."""

from __future__ import annotations

import pytest

from agent_session_manager.testing import backends, register_backend
from agent_session_manager.testing.registry import divergence

pytest_plugins = ["pytester"]

SUITE = '''
import pytest
from agent_session_manager import open_store
from agent_session_manager.testing import SessionStoreContract, register_backend
from agent_session_manager.sessions.memory import InMemorySessionStore


class ForgetfulStore(InMemorySessionStore):
    """A third party's store whose saves are not upserts: the second save of an id is dropped."""

    async def save_session(self, session):
        try:
            return await self.get_session(session.id)
        except Exception:
            return await super().save_session(session)


register_backend("forgetful", divergences={
    "test_save_session_is_an_upsert": "keeps the first version of a session",
    "test_append_numbers_from_one_per_session": "documented, but this backend does not diverge here",
})


class TestForgetful(SessionStoreContract):
    backend = "forgetful"

    async def new_store(self):
        return ForgetfulStore()
'''


def test_a_divergence_is_a_strict_expected_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_forgetful=SUITE)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-k",
        "test_save_session_is_an_upsert or test_append_numbers_from_one_per_session "
        "or test_session_round_trips_every_field",
        "-rxX",
    )
    result.assert_outcomes(passed=1, xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*XFAIL*test_save_session_is_an_upsert*keeps the first version*"])
    result.stdout.fnmatch_lines(
        ["*TestForgetful.test_append_numbers_from_one_per_session*", "*XPASS(strict)*does not diverge here*"]
    )


def test_our_backends_are_registered_without_divergences() -> None:
    ours = {"memory", "sqlite", "postgresql", "composite", "file", "s3"}
    assert ours <= set(backends())
    assert all(not backends()[name].divergences for name in ours)
    assert divergence(None, "test_anything") is None


def test_an_unregistered_backend_name_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="register_backend"):
        divergence("no-such-backend", "test_anything")
    register_backend("late", {"test_x": "why"})
    assert divergence("late", "test_x") == "why"
