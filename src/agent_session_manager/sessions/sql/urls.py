"""Database URLs of the SQL store: `sqlite:///path` and `postgresql://...`, for the drivers and SQLAlchemy."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from ...core.errors import StorageError, ValidationError
from ...core.urls import redact_url, scheme_of


def split_url(url: str) -> SplitResult:
    """`url` split into its parts; a malformed one (bad IPv6 host, non-numeric port) is `validation_error`."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ValidationError(
            f"malformed database URL {redact_url(url)}: {exc}", details={"url": redact_url(url)}
        ) from None
    return parts


def sqlite_location(url: str) -> tuple[Path, dict[str, str]]:
    """The database file of a `sqlite:///relative` or `sqlite:////absolute` URL, and its query options."""
    parts = split_url(url)
    if scheme_of(url) != "sqlite" or parts.netloc:
        raise ValidationError(
            f"not a SQLite file URL: {redact_url(url)} (use sqlite:///relative/path or sqlite:////abs/path)",
            details={"url": redact_url(url)},
        )
    if not url.split(":", 1)[1].startswith("//"):
        raise ValidationError(
            f"not a SQLite file URL: {redact_url(url)} (a SQLite URL starts with sqlite:///)",
            details={"url": redact_url(url)},
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        raise ValidationError(
            "a SQLite store needs a file path (sqlite:///./.asm/asm.db); for a throwaway store use memory://",
            details={"url": redact_url(url)},
        )
    _check_directories(Path(path))
    return Path(path), dict(parse_qsl(parts.query))


def _check_directories(path: Path) -> None:
    """`storage_error` if an existing ancestor of `path` is not a directory (no database can go there)."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise StorageError(
                    f"cannot keep a SQLite database at {path}: {parent} is not a directory",
                    details={"path": str(path)},
                )
            return


def postgres_dsn(url: str) -> str:
    """The URL as asyncpg takes it: `postgresql://...`, without a SQLAlchemy `+driver` suffix."""
    parts = split_url(url)
    if scheme_of(url) not in ("postgresql", "postgres"):
        raise ValidationError(f"not a PostgreSQL URL: {redact_url(url)}", details={"url": redact_url(url)})
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def host_of(url: str) -> str:
    """`host:port` of a server URL, for error messages (never the credentials)."""
    parts = split_url(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port}" if parts.port else host


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy opens for migrations: pysqlite for SQLite, the asyncpg dialect for PostgreSQL."""
    if scheme_of(url) == "sqlite":
        path, _ = sqlite_location(url)
        return f"sqlite:///{path.resolve()}"
    dsn = postgres_dsn(url)
    return "postgresql+asyncpg" + dsn[len("postgresql") :]
