"""Derived forms of secrets (base64, URL-encoded, escaped), URLs that do not parse, and sealing of API-issued tokens."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import orjson
import pytest

from dailyfetch.errors import ConfigError
from dailyfetch.redact import (
    REGISTRY,
    mask_url,
    redact,
    register_issued_params,
    register_issued_secrets,
    register_secret,
    register_url_secrets,
    seal,
    unseal,
    use_seal_key,
)

SECRET = 'pa/ss+w rd"é-42'


@pytest.fixture(autouse=True)
def _default_key() -> Iterator[None]:
    yield
    use_seal_key("")


def test_basic_credentials_are_redacted_as_base64() -> None:
    """Registering user:password redacts the header RFC 7617 makes of it: base64, with and without padding."""
    register_secret("reader:s3cret-pw")
    header = "Basic " + base64.b64encode(b"reader:s3cret-pw").decode()
    assert redact(f"echo: {header}") == "echo: Basic ***"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        SECRET.replace("/", "\\/"),
        html.escape(SECRET),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    ],
)
def test_every_encoded_form_of_a_secret_is_redacted(form: str) -> None:
    """A secret is redacted URL-encoded (both ways), JSON-escaped (also PHP's \\/), HTML-escaped and base64-encoded."""
    register_secret(SECRET)
    assert redact(f"<{form}>") == "<***>"


def test_a_password_with_an_unencoded_slash_is_registered_and_masked() -> None:
    """postgresql://u:pa/ss@host/db parses with no password (the '/' ends the authority): all of it is still secret."""
    url = "postgresql://loader:pa/ss-word-77@db.test:5432/warehouse"
    register_url_secrets(url)
    assert redact("host loader port pa/ss-word-77@db.test") == "host loader port ***@db.test"
    assert mask_url(url) == "postgresql://loader:***@db.test:5432/warehouse"


def test_a_keyword_connection_string_password_is_registered() -> None:
    """host=... password=... (libpq's key=value form) registers the password, quoted or not."""
    register_url_secrets("host=db.test dbname=w password=kw-secret-99 user=me")
    register_url_secrets(r"host=db.test password='quo\'ted pw' user=me")
    assert redact("kw-secret-99 / quo'ted pw") == "*** / ***"


def test_an_issued_token_in_a_next_url_is_redacted_and_sealed_then_restored() -> None:
    """A token the API put in a next-page URL is redacted where echoed, absent from sealed progress, and restored exactly."""
    url = "https://api.test/items?page=2&token=srv%2Ftok-7788&session_id=abc123def"
    register_issued_secrets(url)
    assert redact("bad token srv/tok-7788") == "bad token ***"
    text = orjson.dumps({"url": url}).decode()
    sealed = seal(text)
    for part in ("srv%2Ftok-7788", "srv/tok-7788", "abc123def"):
        assert part not in sealed
    assert "page=2" in sealed and "{{dailyfetch-sealed:" in sealed
    REGISTRY.clear()  # a new process: nothing registered
    assert unseal(sealed) == text


def test_a_token_sent_as_a_cursor_is_sealed_too() -> None:
    """A recent (API-issued) value anywhere in progress, e.g. a cursor sent as ?page_token=, is sealed and restored."""
    register_issued_params({"page_token": "CgkI-cursor-4455", "limit": 100, "q": "plain-value"})
    assert redact("CgkI-cursor-4455 plain-value") == "*** plain-value"
    text = orjson.dumps({"cursor": "CgkI-cursor-4455"}).decode()
    sealed = seal(text)
    assert "CgkI-cursor-4455" not in sealed
    REGISTRY.clear()
    assert unseal(sealed) == text


def test_the_jobs_own_secret_in_a_url_stays_a_reference() -> None:
    """A secret of the job's environment is referenced (restored from the environment), not encrypted."""
    register_secret("env-api-key-1234")
    sealed = seal('{"url":"https://api.test/next?api_key=env-api-key-1234&page=3"}')
    assert "{{dailyfetch-secret:" in sealed and "dailyfetch-sealed" not in sealed
    assert unseal(sealed) == '{"url":"https://api.test/next?api_key=env-api-key-1234&page=3"}'


def test_sealed_progress_needs_the_same_database_password() -> None:
    """Progress sealed under one database password does not unseal under another: a ConfigError naming --force."""
    use_seal_key("postgresql://me:first-pw@db.test/w")
    sealed = seal('{"url":"https://api.test/next?token=issued-5566"}')
    use_seal_key("postgresql://me:other-pw@db.test/w")
    with pytest.raises(ConfigError) as info:
        unseal(sealed)
    assert "--force" in str(info.value)
    use_seal_key("postgresql://me:first-pw@db.test/w")
    assert unseal(sealed) == '{"url":"https://api.test/next?token=issued-5566"}'


def test_recent_values_are_bounded() -> None:
    """Only the last 64 issued values are kept: a run of 10,000 pages does not grow the registry."""
    for i in range(200):
        register_issued_secrets(f"https://api.test/items?token=tok-{i:06d}")
    assert redact("tok-000199 tok-000000") == "*** tok-000000"
    pattern = REGISTRY._pattern
    assert pattern is not None and pattern.pattern.count("|") < 64 * 12
