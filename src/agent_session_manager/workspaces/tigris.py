"""Tigris workspaces: the S3 backend with Fly.io's defaults, so that on a Fly Machine with
`fly storage create` done, `await TigrisWorkspaceStorage.init(session_id)` needs no options.

| option | resolution order |
|---|---|
| `bucket` | option, else `BUCKET_NAME`, else `validation_error` (hint: `fly storage create`) |
| `endpoint` | option, else `AWS_ENDPOINT_URL_S3`, else `https://fly.storage.tigris.dev` |
| `region` | option, else `FLY_REGION`, else `auto` |
| `cache_path` | option, else `$FLY_VOLUME_PATH/asm_workspaces` if that is set, else the temp dir |
| `prefix` | option, else `sessions/` |
| credentials | options, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (set by `fly storage create`) |

`tigris://bucket/prefix` (or `tigris://` to take the bucket from `BUCKET_NAME`) opens one by URL.
Everything else is `S3WorkspaceStorage`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from ..core.errors import ValidationError
from .s3 import S3WorkspaceStorage

DEFAULT_ENDPOINT = "https://fly.storage.tigris.dev"
DEFAULT_REGION = "auto"


class TigrisWorkspaceStorage(S3WorkspaceStorage):
    """`S3WorkspaceStorage` with Fly.io defaults (module docstring)."""

    backend = "tigris"

    @classmethod
    async def init(
        cls,
        session_id: str | None = None,
        *,
        bucket: str | None = None,
        prefix: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        cache_path: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Self:
        bucket = bucket or os.environ.get("BUCKET_NAME")
        if not bucket:
            raise ValidationError(
                "Tigris needs a bucket: pass bucket= or set BUCKET_NAME (run: fly storage create)",
                details={"field": "bucket"},
            )
        volume = os.environ.get("FLY_VOLUME_PATH")
        if cache_path is None and volume:
            cache_path = Path(volume) / "asm_workspaces"
        return await super().init(
            session_id,
            bucket=bucket,
            prefix=prefix,
            endpoint=endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or DEFAULT_ENDPOINT,
            region=region or os.environ.get("FLY_REGION") or DEFAULT_REGION,
            cache_path=cache_path,
            **options,
        )

    @classmethod
    async def from_url(cls, url: str, session_id: str | None = None, **options: Any) -> Self:
        """`tigris://bucket/prefix`; `tigris://` takes the bucket from `BUCKET_NAME`."""
        parts = urlsplit(url)
        if parts.hostname:
            options.setdefault("bucket", parts.hostname)
        if parts.path.strip("/"):
            options.setdefault("prefix", parts.path)
        return await cls.init(session_id, **options)
