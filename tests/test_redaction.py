"""Redaction: every category of the seed, plain and categorized masks, deep scan, sensitive keys, and
that ids and ordinary text come through untouched."""

from __future__ import annotations

import re

import pytest

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.ids import EVENT_PREFIX, RUN_PREFIX, SESSION_PREFIX, new_id
from agent_session_manager.core.models import EventType
from agent_session_manager.manager.redaction import DEFAULT_PATTERNS, Redactor, SecretPattern

A36 = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"  # 36 alphanumerics, shaped like a GitHub token body

#: (category, text containing one secret, the secret, text that must survive around it)
SAMPLES = [
    ("aws_access_key", "key id AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "key id "),
    (
        "aws_secret_key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = ",
    ),
    ("gcp_api_key", "maps key AIzaSyB" + "x" * 32 + " ok", "AIzaSyB" + "x" * 32, "maps key "),
    ("anthropic_key", "use sk-ant-api03-" + "Zz9_" * 10 + " now", "sk-ant-api03-" + "Zz9_" * 10, "use "),
    ("openai_key", "OPENAI sk-proj-" + "A1b2" * 10, "sk-proj-" + "A1b2" * 10, "OPENAI "),
    ("openai_legacy_key", "old sk-" + "a1B2" * 12 + " key", "sk-" + "a1B2" * 12, "old "),
    ("github_pat", "token ghp_" + A36, "ghp_" + A36, "token "),
    ("github_oauth", "oauth gho_" + A36, "gho_" + A36, "oauth "),
    ("github_app", "app ghs_" + A36, "ghs_" + A36, "app "),
    ("github_refresh", "refresh ghr_" + A36, "ghr_" + A36, "refresh "),
    (
        "github_fine_pat",
        "fine github_pat_11ABCDEFG0_" + "x" * 59,
        "github_pat_11ABCDEFG0_" + "x" * 59,
        "fine ",
    ),
    ("gitlab_token", "ci glpat-" + "Ab1_" * 5, "glpat-" + "Ab1_" * 5, "ci "),
    (
        "jwt_token",
        "cookie=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU;",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU",
        "cookie=",
    ),
    (
        "bearer_token",
        "Authorization: Bearer abcdef1234567890XYZ",
        "abcdef1234567890XYZ",
        "Authorization: Bearer ",
    ),
    ("password", "login with password=hunter2! then", "hunter2!", "login with password="),
    ("api_key_generic", '{"api_key": "9f8e7d6c5b4a3921"}', "9f8e7d6c5b4a3921", '{"api_key": "'),
    ("secret_key", "client_secret=s3cr3tValue99 &", "s3cr3tValue99", "client_secret="),
    ("access_token", "access_token: ya29.a0AfH6SMBx-long", "ya29.a0AfH6SMBx-long", "access_token: "),
    ("auth_token", "auth_token=tok_1234567890", "tok_1234567890", "auth_token="),
    (
        "connection_string",
        "connect to postgresql://app:pa55w0rd@db.internal:5432/prod now",
        "pa55w0rd",
        "connect to postgresql://app:",
    ),
    (
        "private_key",
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc==\n-----END RSA PRIVATE KEY-----\nbye",
        "MIIEowIBAAKCAQEA",
        "key:\n",
    ),
    ("env_secret", "export STRIPE_SECRET=whsec_abc123def", "whsec_abc123def", "export STRIPE_SECRET="),
]


def test_the_default_patterns_cover_every_category_of_the_seed() -> None:
    assert {p.category for p in DEFAULT_PATTERNS} == {s[0] for s in SAMPLES}
    assert len(DEFAULT_PATTERNS) == 22


@pytest.mark.parametrize(("category", "text", "secret", "kept"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_category_is_found_and_masked(category: str, text: str, secret: str, kept: str) -> None:
    redacted, found = Redactor(categorized=True).redact_text(text)
    assert secret not in redacted
    assert found == [category]
    assert f"[REDACTED:{category}]" in redacted
    assert redacted.startswith(kept)


def test_plain_mask_and_custom_replacement() -> None:
    text = "password=hunter2 and ghp_" + A36
    assert Redactor().redact_text(text)[0] == "password=[REDACTED] and [REDACTED]"
    assert Redactor(replacement="***").redact_text(text)[0] == "password=*** and ***"


def test_connection_strings_keep_user_and_host() -> None:
    redacted, _ = Redactor().redact_text("mongodb+srv://svc:s3cret@cluster0.example.net/app")
    assert redacted == "mongodb+srv://svc:[REDACTED]@cluster0.example.net/app"


def test_env_files_are_redacted_line_by_line() -> None:
    env = "DEBUG=1\nDATABASE_URL=postgres://u:p4ss@h/db\nGITHUB_TOKEN=abc123\nPORT=8080"
    redacted, found = Redactor(categorized=True).redact_text(env)
    assert redacted == (
        "DEBUG=1\nDATABASE_URL=[REDACTED:env_secret]\nGITHUB_TOKEN=[REDACTED:env_secret]\nPORT=8080"
    )
    assert found == ["env_secret", "env_secret"]


def test_overlapping_patterns_count_a_secret_once() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
    redacted, found = Redactor(categorized=True).redact_text(f"Authorization: Bearer {jwt}")
    assert redacted == "Authorization: Bearer [REDACTED:jwt_token]"
    assert found == ["jwt_token"]
    redacted, found = Redactor(categorized=True).redact_text("api_key=sk-ant-api03-" + "k" * 30)
    assert redacted == "api_key=[REDACTED:anthropic_key]" and found == ["anthropic_key"]


def test_deep_scan_reaches_every_string_at_any_depth() -> None:
    secret = "ghp_" + A36
    nested = {"a": [{"b": {"c": [f"x {secret}"]}}], "n": 3, "ok": True, "none": None}
    deep = {"level": nested}
    for _ in range(15):
        deep = {"deeper": deep}
    redacted, found = Redactor(categorized=True).redact_value(deep)
    assert secret not in repr(redacted)
    assert found == ["github_pat"]
    inner = redacted
    for _ in range(15):
        inner = inner["deeper"]
    assert inner["level"] == {
        "a": [{"b": {"c": ["x [REDACTED:github_pat]"]}}],
        "n": 3,
        "ok": True,
        "none": None,
    }


def test_values_under_sensitive_keys_are_masked_whatever_they_look_like() -> None:
    data = {
        "password": "short",
        "db": {"db_password": "x", "api-key": "k", "client_secret": "c"},
        "oauth": {"refresh_token": "r", "token": "t", "private_key": "pk"},
        "count": 5,
        "tokens": "not a secret",
        "input_tokens": 10,
    }
    redacted, found = Redactor(categorized=True).redact_value(data)
    assert redacted == {
        "password": "[REDACTED:password]",
        "db": {
            "db_password": "[REDACTED:password]",
            "api-key": "[REDACTED:api_key_generic]",
            "client_secret": "[REDACTED:secret_key]",
        },
        "oauth": {
            "refresh_token": "[REDACTED:access_token]",
            "token": "[REDACTED:auth_token]",
            "private_key": "[REDACTED:private_key]",
        },
        "count": 5,
        "tokens": "not a secret",
        "input_tokens": 10,
    }
    assert len(found) == 7


def test_targeted_scan_only_reads_the_free_text_fields_of_the_type() -> None:
    secret = "ghp_" + A36
    redactor = Redactor(deep_scan=False)
    data = {"content": f"here {secret}", "delta": secret, "note": secret}
    out, meta, found = redactor.redact_event(EventType.MESSAGE_STREAMED, data, {"m": secret})
    assert out == {"content": "here [REDACTED]", "delta": "[REDACTED]", "note": secret}
    assert meta == {"m": secret} and len(found) == 2
    tool = {"tool_name": "sh", "tool_input": {"cmd": f"curl -H 'Authorization: Bearer {secret}'"}}
    out, _, found = redactor.redact_event(EventType.TOOL_CALL_STARTED, tool, {})
    assert secret not in repr(out) and found == ["github_pat"]
    out, _, found = redactor.redact_event(EventType.RUN_STARTED, {"system": secret}, {})
    assert out == {"system": secret} and found == []


def test_metadata_is_scanned_only_when_asked() -> None:
    secret = "glpat-" + "z" * 20
    _, meta, _ = Redactor().redact_event(EventType.MESSAGE_SENT, {}, {"ci": secret})
    assert meta == {"ci": secret}
    _, meta, found = Redactor(scan_metadata=True).redact_event(EventType.MESSAGE_SENT, {}, {"ci": secret})
    assert meta == {"ci": "[REDACTED]"} and found == ["gitlab_token"]


def test_ids_and_ordinary_text_are_untouched() -> None:
    data = {
        "session": new_id(SESSION_PREFIX),
        "run": new_id(RUN_PREFIX),
        "event": new_id(EVENT_PREFIX),
        "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
        "model": "claude-sonnet-4-20250514",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "commit": "fed055b2eeb2ab6d9a45cd8c6ba46cb1f0aba23a",
        "uuid": "0190c4f2-6d1e-7b3a-9c4d-2e5f6a7b8c9d",
        "text": "The password policy needs 12 characters; rotate the API key yearly. Bearer of bad news.",
        "url": "postgresql://app@db.internal:5432/prod",
        "https": "https://example.com/path?page=2",
        "input_tokens": 812,
        "skills": "sk-learn and risk-free tasks",
        "env": "PATH=/usr/bin HOME=/root",
    }
    redacted, found = Redactor(categorized=True).redact_value(data)
    assert redacted == data and found == []


def test_custom_patterns_extend_or_replace_the_defaults() -> None:
    ticket = SecretPattern.of("acme_ticket", r"\bACME-[0-9]{6}\b")
    extended = Redactor(extra_patterns=[ticket], categorized=True)
    assert extended.redact_text("ACME-123456 ghp_" + A36)[0] == (
        "[REDACTED:acme_ticket] [REDACTED:github_pat]"
    )
    only = Redactor(patterns=[ticket], sensitive_keys=False)
    assert only.redact_text("ACME-123456 ghp_" + A36)[0] == "[REDACTED] ghp_" + A36
    assert only.redact_value({"password": "x"})[0] == {"password": "x"}
    compiled = SecretPattern.of("pin", re.compile(r"pin=(?P<secret>\d{4})"))
    assert Redactor(patterns=[compiled]).redact_text("pin=1234")[0] == "pin=[REDACTED]"


def test_hints_let_text_without_them_skip_a_pattern() -> None:
    pin = SecretPattern.of("pin", r"\b\d{4}\b", hints=["PIN"])
    redactor = Redactor(patterns=[pin], categorized=True)
    assert redactor.redact_text("room 1234")[0] == "room 1234"
    assert redactor.redact_text("Pin: 1234")[0] == "Pin: [REDACTED:pin]"
    always = Redactor(patterns=[SecretPattern.of("pin", r"\b\d{4}\b")])
    assert always.redact_text("room 1234")[0] == "room [REDACTED]"


@pytest.mark.parametrize(("category", "pattern"), [("Bad Category", "x"), ("", "x"), ("ok", "(unclosed")])
def test_bad_patterns_are_validation_errors(category: str, pattern: str) -> None:
    with pytest.raises(ValidationError):
        SecretPattern.of(category, pattern)


def test_bad_redactor_options_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        Redactor(patterns=["ghp_.*"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        Redactor(replacement=None)  # type: ignore[arg-type]
