"""Opt-in redaction of secrets from event payloads before they are stored.

Two mechanisms, both with a category per finding:

* Patterns over text: 22 categories (AWS, GCP, Anthropic, OpenAI, GitHub, GitLab, JWT,
  bearer tokens, passwords, generic API keys, secret keys, access/auth tokens, connection strings, private
  keys, env-style secrets). A pattern with a group named `secret` replaces only that group, so
  `password=hunter2` becomes `password=[REDACTED]` and `postgresql://app:pw@db/x` keeps its host. Where
  patterns overlap, the earlier (more specific) one wins, and each secret is counted once.
* Sensitive keys: a string stored under a key such as `password`, `api_key`, `client_secret`,
  `access_token` or `private_key` is replaced whole, whatever it looks like.

The replacement is `"[REDACTED]"` (or any string you choose), or `[REDACTED:<category>]` with
`categorized=True`. `deep_scan=True` (default) scans every string of `data` at any depth; `False` scans
only the fields that carry free text for the event's type (message content, tool input/output, error
messages, policy details). `scan_metadata` extends scanning to `metadata`. Dict keys are never rewritten.

Limits: a secret split across several streamed chunks is not recognised in any one chunk (the final
`message_received` text is); patterns find well-known shapes, not every secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ValidationError
from ..core.models import EventType

_CATEGORY_RE = re.compile(r"[a-z0-9_]{1,64}")
#: `key = value` / `"key": "value"` / `key: value` separators used by the keyword patterns.
_SEP = r"""\b["']?\s*[:=]\s*["']?"""
_TOKEN = r"[A-Za-z0-9._~+/-]{8,}=*"


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """One category of secret: a regex, and optionally a `secret` group naming the part to replace.

    `hints` (optional) are substrings one of which every match contains, compared case-insensitively:
    text containing none of them skips the regex. They only make scanning faster; without hints the
    regex always runs.
    """

    category: str
    regex: re.Pattern[str]
    hints: tuple[str, ...] = ()

    @classmethod
    def of(cls, category: str, pattern: str | re.Pattern[str], hints: Iterable[str] = ()) -> SecretPattern:
        """Validate `category` (`[a-z0-9_]`, for `[REDACTED:<category>]`) and compile `pattern`."""
        if not isinstance(category, str) or not _CATEGORY_RE.fullmatch(category):
            raise ValidationError(
                "a redaction category must be 1-64 characters of [a-z0-9_]", details={"field": "category"}
            )
        try:
            regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        except re.error as exc:
            raise ValidationError(
                f"invalid redaction pattern for {category}: {exc}", details={"category": category}
            ) from exc
        return cls(category, regex, tuple(hint.lower() for hint in hints))

    def may_match(self, lowered: str) -> bool:
        """Whether the regex must run on a text whose lowercase form is `lowered`."""
        return not self.hints or any(hint in lowered for hint in self.hints)


#: The default patterns, most specific first (on overlap the earlier pattern wins).
DEFAULT_PATTERNS: tuple[SecretPattern, ...] = tuple(
    SecretPattern.of(category, pattern, hints.split())
    for category, pattern, hints in (
        (
            "private_key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
            "private",
        ),
        ("jwt_token", r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", "eyj"),
        ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{16,}", "sk-ant-"),
        ("openai_key", r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}", "sk-"),
        ("openai_legacy_key", r"\bsk-[A-Za-z0-9]{32,}\b", "sk-"),
        (
            "aws_access_key",
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b",
            "akia asia abia acca agpa aida aipa anpa anva apka aroa",
        ),
        (
            "aws_secret_key",
            r"(?i)\baws[_-]?secret(?:[_-]?access)?[_-]?key"
            + _SEP
            + r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
            "aws",
        ),
        ("gcp_api_key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", "aiza"),
        ("github_fine_pat", r"\bgithub_pat_[A-Za-z0-9_]{22,}", "github_pat_"),
        ("github_pat", r"\bghp_[A-Za-z0-9]{36,}", "ghp_"),
        ("github_oauth", r"\bgho_[A-Za-z0-9]{36,}", "gho_"),
        ("github_app", r"\bgh[us]_[A-Za-z0-9]{36,}", "ghu_ ghs_"),
        ("github_refresh", r"\bghr_[A-Za-z0-9]{36,}", "ghr_"),
        ("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}", "glpat-"),
        (
            "env_secret",
            r"\b(?:[A-Z][A-Z0-9_]*_)?(?:DATABASE_URL|SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|APIKEY|"
            r"PRIVATE_KEY|ACCESS_KEY|CREDENTIALS)(?:_[A-Z0-9_]*)?=(?P<secret>[^\s\"']+)",
            "database_url secret token passwd password api_key apikey private_key access_key credentials",
        ),
        (
            "connection_string",
            r"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|rediss?|mongodb(?:\+srv)?|amqps?|mssql|sqlserver)"
            r"(?:\+[a-z0-9]+)?://[^\s:/@]*:(?P<secret>[^\s@/]+)@",
            "://",
        ),
        ("bearer_token", r"(?i)\bbearer\s+(?P<secret>" + _TOKEN + ")", "bearer"),
        (
            "password",
            r"(?i)\b(?:password|passwd|pwd|passphrase)" + _SEP + r"(?P<secret>[^\s\"',;&]+)",
            "passw pwd passphrase",
        ),
        ("api_key_generic", r"(?i)\b(?:api[_-]?key|apikey)" + _SEP + "(?P<secret>" + _TOKEN + ")", "api"),
        (
            "secret_key",
            r"(?i)\b(?:secret[_-]?key|client[_-]?secret|secret)" + _SEP + r"(?P<secret>[^\s\"',;&]{6,})",
            "secret",
        ),
        (
            "access_token",
            r"(?i)\b(?:access|refresh)[_-]?token" + _SEP + "(?P<secret>" + _TOKEN + ")",
            "token",
        ),
        ("auth_token", r"(?i)\b(?:auth|session)[_-]?token" + _SEP + "(?P<secret>" + _TOKEN + ")", "token"),
    )
)

#: Keys whose string values are secrets whatever they look like (matched on the key's last words);
#: the name of the group that matched is the category.
SENSITIVE_KEY_RE = re.compile(
    r"(?i)(?:^|[_-])(?:"
    + "|".join(
        f"(?P<{category}>{words})"
        for category, words in (
            ("password", r"password|passwd|pwd|passphrase"),
            ("api_key_generic", r"api[_-]?key|apikey"),
            ("secret_key", r"secret|secret[_-]?key|client[_-]?secret|secret[_-]?access[_-]?key"),
            ("access_token", r"access[_-]?token|refresh[_-]?token"),
            ("auth_token", r"auth[_-]?token|session[_-]?token|token"),
            ("private_key", r"private[_-]?key"),
        )
    )
    + r")$"
)

_MESSAGE_FIELDS = ("content", "delta")
_TOOL_FIELDS = ("tool_input", "tool_output", "error_message")
_ERROR_FIELDS = ("error_message", "provider_error", "details")
#: With `deep_scan=False`, the free-text fields scanned per event type.
TARGETED_FIELDS: Mapping[EventType, tuple[str, ...]] = {
    EventType.MESSAGE_SENT: _MESSAGE_FIELDS,
    EventType.MESSAGE_RECEIVED: _MESSAGE_FIELDS,
    EventType.MESSAGE_STREAMED: _MESSAGE_FIELDS,
    EventType.TOOL_CALL_STARTED: _TOOL_FIELDS,
    EventType.TOOL_CALL_COMPLETED: _TOOL_FIELDS,
    EventType.TOOL_CALL_FAILED: _TOOL_FIELDS,
    EventType.TOOL_APPROVAL_REQUESTED: ("tool_input",),
    EventType.ERROR_OCCURRED: _ERROR_FIELDS,
    EventType.RUN_FAILED: _ERROR_FIELDS,
    EventType.SESSION_FAILED: _ERROR_FIELDS,
    EventType.POLICY_VIOLATION: ("details",),
}


class Redactor:
    """Replaces secrets in strings and JSON values; every finding is reported by category."""

    def __init__(
        self,
        *,
        patterns: Sequence[SecretPattern] | None = None,
        extra_patterns: Iterable[SecretPattern] = (),
        replacement: str = "[REDACTED]",
        categorized: bool = False,
        deep_scan: bool = True,
        scan_metadata: bool = False,
        sensitive_keys: bool = True,
    ) -> None:
        chosen = [*(DEFAULT_PATTERNS if patterns is None else patterns), *extra_patterns]
        if not all(isinstance(p, SecretPattern) for p in chosen):
            raise ValidationError("patterns must be SecretPattern objects (use SecretPattern.of)")
        if not isinstance(replacement, str):
            raise ValidationError("replacement must be a string", details={"field": "replacement"})
        self.patterns: tuple[SecretPattern, ...] = tuple(chosen)
        hints = sorted({hint for p in chosen for hint in p.hints}, key=len, reverse=True)
        #: One search that tells whether any hint occurs: most text has none and skips every hinted regex.
        self._any_hint = re.compile("|".join(map(re.escape, hints))) if hints else None
        self._unhinted = tuple(p for p in chosen if not p.hints)
        self.replacement = replacement
        self.categorized = categorized
        self.deep_scan = deep_scan
        self.scan_metadata = scan_metadata
        self.sensitive_keys = sensitive_keys

    def mask(self, category: str) -> str:
        """The text that replaces a secret of `category`."""
        return f"[REDACTED:{category}]" if self.categorized else self.replacement

    def redact_text(self, text: str) -> tuple[str, list[str]]:
        """`text` with every recognised secret replaced, and the categories found (one per secret)."""
        spans: list[tuple[int, int, str]] = []
        lowered = text.lower()
        hinted = self._any_hint is not None and self._any_hint.search(lowered) is not None
        for pattern in self.patterns if hinted else self._unhinted:
            if not pattern.may_match(lowered):
                continue
            for match in pattern.regex.finditer(text):
                has_group = "secret" in pattern.regex.groupindex and match.group("secret") is not None
                start, end = match.span("secret") if has_group else match.span()
                if end > start and not any(start < e and s < end for s, e, _ in spans):
                    spans.append((start, end, pattern.category))
        if not spans:
            return text, []
        spans.sort()
        pieces: list[str] = []
        position = 0
        for start, end, category in spans:
            pieces.append(text[position:start])
            pieces.append(self.mask(category))
            position = end
        pieces.append(text[position:])
        return "".join(pieces), [category for _, _, category in spans]

    def redact_value(self, value: Any) -> tuple[Any, list[str]]:
        """A redacted copy of a JSON value (strings at any depth), and the categories found."""
        found: list[str] = []
        return self._value(value, found), found

    def redact_event(
        self, event_type: EventType | str, data: dict[str, Any], metadata: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """Redacted copies of an event's `data` (and `metadata` if `scan_metadata`), and the findings."""
        found: list[str] = []
        if self.deep_scan:
            data = self._value(data, found)
        else:
            fields = TARGETED_FIELDS.get(event_type, ()) if isinstance(event_type, EventType) else ()
            data = {k: self._field(k, v, found) if k in fields else v for k, v in data.items()}
        if self.scan_metadata:
            metadata = self._value(metadata, found)
        return data, metadata, found

    def _value(self, value: Any, found: list[str]) -> Any:
        if isinstance(value, str):
            text, categories = self.redact_text(value)
            found.extend(categories)
            return text
        if isinstance(value, dict):
            return {key: self._field(key, item, found) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item, found) for item in value]
        return value

    def _field(self, key: str, value: Any, found: list[str]) -> Any:
        if self.sensitive_keys and isinstance(value, str) and value:
            match = SENSITIVE_KEY_RE.search(key)
            if match is not None and match.lastgroup is not None:
                found.append(match.lastgroup)
                return self.mask(match.lastgroup)
        return self._value(value, found)
