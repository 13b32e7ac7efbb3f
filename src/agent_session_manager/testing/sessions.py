"""The `SessionStore` contract suite: every backend, ours or a third party's, passes the same tests.

Use it with pytest and pytest-asyncio (`asyncio_mode = "auto"`)::

    from agent_session_manager.testing import SessionStoreContract

    class TestMyStore(SessionStoreContract):
        async def new_store(self):
            return await MyStore.connect(...)   # connected and EMPTY

Each test gets a fresh store from `new_store()` and closes it afterwards. The tests assert behaviour
(numbers, order, atomicity, errors and their codes), never merely that a call returned.

The tests live in one module per capability, composed here: `records` (sessions and runs), `events`
(the log), `subscriptions` (long polls, subscribe), `artifact_records`, `payloads` (JSON round trips),
`primitives` (the framework primitives), `state` (scoped state documents) and `boundary` (every
write validates its models, however they were made).
"""

from __future__ import annotations

from .artifact_records import ArtifactRecordsContract
from .boundary import WriteBoundaryContract
from .events import EventLogContract
from .payloads import PayloadContract
from .primitives import PrimitivesContract
from .records import RecordsContract
from .state import StateContract
from .subscriptions import SubscriptionContract


class SessionStoreContract(
    RecordsContract,
    EventLogContract,
    SubscriptionContract,
    ArtifactRecordsContract,
    PayloadContract,
    PrimitivesContract,
    StateContract,
    WriteBoundaryContract,
):
    """Subclass in a test module and implement `new_store`."""
