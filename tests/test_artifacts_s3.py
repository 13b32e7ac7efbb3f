"""The S3 artifact backend on a real SeaweedFS (or the endpoint in `ASM_TEST_S3_*`): the whole contract,
plus object layout, integrity against the raw bucket, multipart aborts and connection errors."""

from __future__ import annotations

import asyncio
import base64
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import obstore
import orjson
import pytest
from obstore.store import S3Store

from agent_session_manager import (
    ChecksumMismatch,
    StorageConnectionFailed,
    StorageError,
    ValidationError,
    open_artifact_store,
)
from agent_session_manager.artifacts.base import ArtifactStore
from agent_session_manager.artifacts.s3 import S3ArtifactStore
from agent_session_manager.testing import ArtifactStoreContract
from agent_session_manager.testing.artifacts import flip_byte, sha
from agent_session_manager.testing.services import S3Target, SeaweedFS, free_port

pytestmark = pytest.mark.s3
PREFIX = "asm/artifacts"


def raw_store(target: S3Target, endpoint: str | None = None) -> S3Store:
    """A bare obstore client on the bucket, to look at and tamper with objects behind our store."""
    return S3Store(
        target.bucket,
        endpoint=endpoint or target.endpoint,
        region=target.region,
        client_options={"allow_http": True},
        **target.credentials(),
    )


async def raw_keys(target: S3Target) -> list[str]:
    return sorted(meta["path"] for meta in await obstore.list(raw_store(target)).collect_async())


class TestS3ArtifactStore(ArtifactStoreContract):
    backend = "s3"

    @pytest.fixture(autouse=True)
    async def _target(self, s3_target: S3Target) -> None:
        self.target = s3_target
        await obstore.put_async(raw_store(s3_target), "outside/sentinel", b"not ours")

    async def new_store(self) -> ArtifactStore:
        return await open_artifact_store(self.target.url(PREFIX), **self.target.credentials())

    async def corrupt(self, store: ArtifactStore, key: str) -> None:
        raw = raw_store(self.target)
        result = await obstore.get_async(raw, f"{PREFIX}/{key}")
        data = bytes(await result.bytes_async())
        await obstore.put_async(
            raw, f"{PREFIX}/{key}", flip_byte(data, len(data) - 1), attributes=result.attributes
        )

    async def outside(self, store: ArtifactStore) -> object:
        return [key for key in await raw_keys(self.target) if not key.startswith(PREFIX + "/")]


@pytest.fixture
async def store(s3_target: S3Target) -> S3ArtifactStore:
    opened = await open_artifact_store(s3_target.url(PREFIX), **s3_target.credentials())
    assert isinstance(opened, S3ArtifactStore)
    return opened


async def test_object_key_is_prefix_plus_key_with_type_and_checksum_on_the_object(
    store: S3ArtifactStore, s3_target: S3Target
) -> None:
    data = b"--- a/file.ex\n+++ b/file.ex"
    await store.put("patch-abc123", data, content_type="text/x-diff", metadata={"run": "é"})
    assert await raw_keys(s3_target) == ["asm/artifacts/patch-abc123"]
    assert store.storage_ref("patch-abc123") == f"s3://{s3_target.bucket}/asm/artifacts/patch-abc123"
    result = await obstore.get_async(raw_store(s3_target), "asm/artifacts/patch-abc123")
    assert bytes(await result.bytes_async()) == data
    attributes = result.attributes
    assert attributes["Content-Type"] == "text/x-diff"
    assert attributes["asm-sha256"] == sha(data)
    assert orjson.loads(base64.urlsafe_b64decode(attributes["asm-metadata"])) == {"run": "é"}


async def test_objects_without_our_checksum_cannot_be_verified(
    store: S3ArtifactStore, s3_target: S3Target
) -> None:
    await obstore.put_async(raw_store(s3_target), "asm/artifacts/foreign", b"written by another tool")
    assert await store.exists("foreign")
    assert (await store.list()).items == ["foreign"]
    for call in (store.get, store.stat, store.open_read):
        with pytest.raises(ChecksumMismatch) as info:
            await call("foreign")
        assert "no SHA-256" in info.value.message
    await obstore.put_async(
        raw_store(s3_target),
        "asm/artifacts/bad-meta",
        b"x",
        attributes={"asm-sha256": sha(b"x"), "asm-metadata": "!!"},
    )
    with pytest.raises(ChecksumMismatch):
        await store.stat("bad-meta")


async def test_foreign_objects_are_read_unverified_only_when_asked(
    store: S3ArtifactStore, s3_target: S3Target
) -> None:
    body = b"written by another tool"
    await obstore.put_async(raw_store(s3_target), "asm/artifacts/foreign", body)
    await store.put("ours", b"ours")
    foreign = await open_artifact_store(s3_target.url(PREFIX), foreign="true", **s3_target.credentials())
    assert await foreign.get("foreign") == body
    info = await foreign.stat("foreign")
    assert (info.size, info.sha256) == (len(body), sha(body))
    async with await foreign.open_read("foreign") as reader:
        assert b"".join([chunk async for chunk in reader]) == body
    assert await foreign.get("ours") == b"ours"
    await flip_byte_of_ours(s3_target)
    with pytest.raises(ChecksumMismatch):
        await foreign.get("ours")
    with pytest.raises(ChecksumMismatch):
        await store.get("foreign")


async def flip_byte_of_ours(target: S3Target) -> None:
    """Rewrite our object `ours` with other bytes but its recorded checksum, as a corruption would."""
    raw = raw_store(target)
    result = await obstore.get_async(raw, "asm/artifacts/ours")
    await obstore.put_async(raw, "asm/artifacts/ours", b"ourz", attributes=dict(result.attributes))


async def test_prefix_and_key_together_must_fit_in_an_s3_key(store: S3ArtifactStore) -> None:
    key = "/".join(["k" * 100] * 10) + "/" + "k" * 10  # 1020 bytes: valid, but not below "asm/artifacts/"
    with pytest.raises(ValidationError) as info:
        await store.put(key, b"v")
    assert "1024" in info.value.message


async def test_credentials_from_the_standard_aws_variables(
    s3_target: S3Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_target.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_target.secret_access_key)
    store = await open_artifact_store(s3_target.url(PREFIX))
    await store.put("from-env", b"ok")
    assert await store.get("from-env") == b"ok"


def assert_no_secret(error: BaseException, secret: str) -> None:
    seen = error
    while seen is not None:
        assert secret not in str(seen)
        assert secret not in repr(getattr(seen, "details", ""))
        seen = seen.__cause__  # type: ignore[assignment]


async def test_wrong_credentials_fail_at_open_naming_the_endpoint_not_the_secret(s3_target: S3Target) -> None:
    secret = "WRONG-secret-value-1234567890"
    with pytest.raises(StorageConnectionFailed) as info:
        await open_artifact_store(
            s3_target.url(PREFIX), access_key_id=s3_target.access_key_id, secret_access_key=secret
        )
    assert info.value.code == "storage_connection_failed"
    assert s3_target.endpoint in info.value.message
    assert_no_secret(info.value, secret)
    lazy = await open_artifact_store(
        s3_target.url(PREFIX) + f"&secret_access_key={secret}",
        access_key_id=s3_target.access_key_id,
        verify="false",
    )
    for call in (lazy.put("k", b"v"), lazy.get("k"), lazy.list()):
        with pytest.raises(StorageConnectionFailed) as failure:
            await call
        assert_no_secret(failure.value, secret)


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKIDEXAMPLE:in-url-secret-123@bucket/p?endpoint=http://127.0.0.1:9",
        "s3://bucket/p?endpoint=http://AKIDEXAMPLE:in-url-secret-123@127.0.0.1:9",
    ],
)
async def test_credentials_inside_the_url_are_refused_without_being_shown(url: str) -> None:
    """Userinfo would be ignored (bucket) or end up in obstore's request URLs and our messages
    (endpoint): both are refused before any request, naming neither."""
    with pytest.raises(ValidationError) as info:
        await open_artifact_store(url, max_retries=0, access_key_id="a", secret_access_key="b")
    assert_no_secret(info.value, "in-url-secret-123")
    assert_no_secret(info.value, "AKIDEXAMPLE")


async def test_unreachable_endpoint_and_missing_bucket(s3_target: S3Target) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StorageConnectionFailed) as info:
        await open_artifact_store(
            f"s3://bucket/p?endpoint={endpoint}", max_retries=0, **s3_target.credentials()
        )
    assert endpoint in info.value.message
    with pytest.raises(StorageError) as missing:
        await open_artifact_store(
            f"s3://no-such-bucket-{os.getpid()}/p?endpoint={s3_target.endpoint}", **s3_target.credentials()
        )
    assert missing.value.code == "storage_error"
    assert "does not exist" in missing.value.message


async def test_unknown_options_are_refused(s3_target: S3Target) -> None:
    with pytest.raises(ValidationError) as info:
        await open_artifact_store(s3_target.url(PREFIX), colour="red", **s3_target.credentials())
    assert "colour" in info.value.message
    with pytest.raises(ValidationError):
        await open_artifact_store(s3_target.url(PREFIX), part_size=1024, **s3_target.credentials())


# -- fault injection: a proxy that fails chosen requests ----------------------------------------


class FaultProxy:
    """An HTTP/1.1 proxy in front of the S3 server that answers 500 to the requests `fail` picks.

    One request per connection (it adds `Connection: close`), enough for obstore's client.
    """

    def __init__(self, upstream: str, fail: Callable[[str, str], bool]) -> None:
        self.upstream_port = int(upstream.rsplit(":", 1)[1])
        self.fail = fail
        self.seen: list[tuple[str, str, bool]] = []

    async def __aenter__(self) -> FaultProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.endpoint = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = next(
                (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")),
                0,
            )
            body = await reader.readexactly(length)
            failed = self.fail(method, target)
            self.seen.append((method, target, failed))
            if failed:
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
            up_writer.write(
                "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1") + body
            )
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            up_writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def pending_uploads(seaweedfs: SeaweedFS | None, bucket: str) -> list[str] | None:
    """Keys with an unfinished multipart upload, from SeaweedFS's filer (None on other servers)."""
    if seaweedfs is None:
        return None
    request = urllib.request.Request(
        f"http://127.0.0.1:{seaweedfs.filer_port}/buckets/{bucket}/.uploads/",
        headers={"Accept": "application/json"},
    )
    try:
        listing: dict[str, Any] = orjson.loads(urllib.request.urlopen(request, timeout=10).read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return [base64.b64decode(entry["Extended"]["key"]).decode() for entry in listing.get("Entries") or []]


async def test_large_puts_use_multipart_and_a_failed_upload_is_aborted(
    s3_target: S3Target, seaweedfs: SeaweedFS | None
) -> None:
    def second_part(method: str, target: str) -> bool:
        return method == "PUT" and "partNumber=2&" in target

    data = os.urandom(12 * 1024 * 1024)
    async with FaultProxy(s3_target.endpoint, lambda method, target: False) as clean:
        store = await open_artifact_store(
            s3_target.url(PREFIX), endpoint=clean.endpoint, **s3_target.credentials()
        )
        await store.put("whole", data)
        assert any(method == "POST" and "uploads" in target for method, target, _ in clean.seen)
        assert await store.get("whole") == data

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1 << 20):
            yield data[start : start + (1 << 20)]

    async with FaultProxy(s3_target.endpoint, second_part) as faulty:
        store = await open_artifact_store(
            s3_target.url(PREFIX), endpoint=faulty.endpoint, max_retries=0, **s3_target.credentials()
        )
        for key, put in [
            ("by-put", store.put("by-put", data)),
            ("by-stream", store.put_stream("by-stream", stream())),
        ]:
            faulty.seen.clear()
            with pytest.raises(StorageError) as info:
                await put
            assert info.value.code in ("storage_error", "storage_connection_failed")
            assert any(failed for _, _, failed in faulty.seen), key
            aborts = [t for m, t, failed in faulty.seen if m == "DELETE" and "uploadId=" in t and not failed]
            assert aborts, f"{key}: no AbortMultipartUpload was sent"
    assert await raw_keys(s3_target) == ["asm/artifacts/whole"]
    assert pending_uploads(seaweedfs, s3_target.bucket) in (None, [])
