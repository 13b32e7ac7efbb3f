"""S3 connections shared by the S3 backends of artifacts, workspaces and snapshots (private to them):
one way to build an obstore `S3Store` from a URL and options, and one mapping of obstore failures to
our errors.

`s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1`: the bucket is the host, the path
is the prefix. Credentials come from options (`access_key_id`, `secret_access_key`, `session_token`),
then the URL's query, then the standard AWS variables (`AWS_ACCESS_KEY_ID`, ... read by obstore). They
are never printed: errors name the endpoint and bucket only. Userinfo (`user:secret@`) in the URL or the
endpoint is `validation_error`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .core.errors import (
    AlreadyExists,
    ASMError,
    DependencyNotAvailable,
    NotFound,
    StorageConnectionFailed,
    StorageError,
    ValidationError,
)
from .core.keys import validate_prefix

_CREDENTIAL_KEYS = ("access_key_id", "secret_access_key", "session_token")
_PASSTHROUGH_KEYS = ("endpoint", "region", "virtual_hosted_style_request", "conditional_put")
_TUNING_KEYS = ("connect_timeout", "timeout", "max_retries", "retry_timeout")
#: Every setting `s3_store` understands (a backend may add its own and reject the rest).
S3_SETTINGS = frozenset((*_CREDENTIAL_KEYS, *_PASSTHROUGH_KEYS, *_TUNING_KEYS))
#: What S3 servers answer (in list and multipart requests, which obstore reports as generic errors)
#: when the signature or the key is wrong.
_REFUSED = ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403 Forbidden")


@dataclass(frozen=True)
class S3Location:
    """Where objects live: a bucket, a key prefix (`""` or ending in `/`) and the endpoint."""

    bucket: str
    prefix: str
    endpoint: str | None
    region: str | None

    def describe(self) -> str:
        """A secret-free description for messages: `s3://bucket/prefix at endpoint`."""
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


def parse_s3_url(url: str, **options: Any) -> tuple[S3Location, dict[str, Any]]:
    """The location in `url` and the remaining settings (options win over the URL's query)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.hostname:
        raise ValidationError("an S3 URL looks like s3://bucket/prefix?endpoint=...&region=...")
    settings: dict[str, Any] = dict(parse_qsl(parts.query))
    settings.update({k: v for k, v in options.items() if v is not None})
    # Userinfo would be ignored (bucket) or copied into every request URL, and so into obstore's
    # errors and ours (endpoint): refused, without echoing it.
    if "@" in parts.netloc or "@" in urlsplit(str(settings.get("endpoint") or "")).netloc:
        raise ValidationError(
            "S3 credentials go in the access_key_id / secret_access_key options (or the AWS variables), "
            "not in the URL or the endpoint",
            details={"field": "url"},
        )
    location = S3Location(
        bucket=parts.netloc,
        prefix=validate_prefix(settings.pop("prefix", None) or parts.path),
        endpoint=settings.get("endpoint"),
        region=settings.get("region"),
    )
    return location, settings


def s3_store(location: S3Location, settings: dict[str, Any]) -> Any:
    """An obstore `S3Store` for the bucket (keys are passed whole: the prefix is ours to add)."""
    try:
        from obstore.store import S3Store
    except ModuleNotFoundError as exc:
        raise DependencyNotAvailable(
            "S3 needs obstore: pip install 'agent-session-manager[s3]'",
            details={"dependency": "obstore"},
        ) from exc
    config: dict[str, Any] = {
        k: settings[k] for k in (*_CREDENTIAL_KEYS, *_PASSTHROUGH_KEYS) if k in settings
    }
    if "session_token" in config:
        config["token"] = config.pop("session_token")
    client: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=float(settings.get("connect_timeout", 5))),
        "timeout": timedelta(seconds=float(settings.get("timeout", 120))),
    }
    if (location.endpoint or "").startswith("http://"):
        client["allow_http"] = True
    retry = {
        "max_retries": int(settings.get("max_retries", 3)),
        "retry_timeout": timedelta(seconds=float(settings.get("retry_timeout", 15))),
        "backoff": {"init_backoff": timedelta(milliseconds=50), "max_backoff": timedelta(seconds=2)},
    }
    return S3Store(location.bucket, config=config, client_options=client, retry_config=retry)  # type: ignore[arg-type]


def s3_error(exc: Exception, location: S3Location, key: str | None = None) -> ASMError:
    """Our error for an obstore failure: not found, already exists, connection, or storage error."""
    from obstore import exceptions as obs

    details: dict[str, Any] = {"bucket": location.bucket, "endpoint": location.endpoint}
    if key is not None:
        details["key"] = key
    where = location.describe()
    text = str(exc)
    if "NoSuchBucket" in text:
        return StorageError(f"bucket {location.bucket!r} does not exist at {where}", details=details)
    # obstore raises the builtin FileNotFoundError for a missing object on get/head.
    if isinstance(exc, obs.NotFoundError | FileNotFoundError):
        return NotFound(f"no object {key!r} in {where}", details=details)
    if isinstance(exc, obs.AlreadyExistsError | obs.PreconditionError):
        return AlreadyExists(f"object {key!r} already exists in {where}", details=details)
    if isinstance(exc, obs.PermissionDeniedError | obs.UnauthenticatedError) or any(
        s in text for s in _REFUSED
    ):
        return StorageConnectionFailed(
            f"{where} refused the credentials (check the access key and secret)", details=details
        )
    if any(s in text for s in ("error sending request", "Connection refused", "dns error", "timed out")):
        return StorageConnectionFailed(f"could not reach {where}", details=details)
    return StorageError(f"S3 request failed for {where}: {type(exc).__name__}", details=details)


async def s3_exists(store: Any, location: S3Location, path: str, key: str | None = None) -> bool:
    """Whether the object `path` exists (one HEAD request): not found is False, any other failure is
    our error (`key` is what messages name, default `path`)."""
    import obstore

    try:
        await obstore.head_async(store, path)
    except Exception as exc:
        error = s3_error(exc, location, path if key is None else key)
        if isinstance(error, NotFound):
            return False
        raise error from exc
    return True


async def s3_delete(store: Any, location: S3Location, path: str, key: str | None = None) -> None:
    """Delete the object `path`; a missing object is not an error (deletes are idempotent)."""
    import obstore

    try:
        await obstore.delete_async(store, path)
    except Exception as exc:
        error = s3_error(exc, location, path if key is None else key)
        if not isinstance(error, NotFound):
            raise error from exc
