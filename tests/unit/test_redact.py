"""Unit tests for secret redaction: the registry, URL masking, sealing and the log processor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from dailyfetch.errors import ConfigError
from dailyfetch.log import configure_logging, redact_processor
from dailyfetch.redact import REGISTRY, mask_url, redact, register_secret, seal, unseal

SECRET = "s3cr3t-value"


def test_registered_secret_is_redacted_everywhere() -> None:
    """Every occurrence of a registered secret becomes ***."""
    register_secret(SECRET)
    assert redact(f"a {SECRET} b {SECRET}") == "a *** b ***"
    assert redact("nothing here") == "nothing here"
    assert redact("") == ""


def test_nothing_registered_leaves_text_alone() -> None:
    """With no secrets registered, redact returns its input."""
    assert redact("password=hunter22") == "password=hunter22"


def test_url_encoded_forms_are_redacted() -> None:
    """A secret is also redacted in its URL-encoded forms."""
    register_secret("p@ss word/1")
    assert redact("raw p@ss word/1") == "raw ***"
    assert redact("query=p%40ss%20word%2F1") == "query=***"
    assert redact("path=p%40ss%20word/1") == "path=***"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Basic", "Token"])
def test_credential_after_scheme_is_redacted(scheme: str) -> None:
    """For 'Bearer xyz' the bare credential is registered too."""
    register_secret(f"{scheme} abcdef123456")
    assert redact("sent abcdef123456 alone") == "sent *** alone"
    assert redact(f"Authorization: {scheme} abcdef123456") == "Authorization: ***"


def test_longest_secret_wins() -> None:
    """Overlapping secrets are replaced whole, longest first."""
    register_secret("abcd")
    register_secret("abcdefgh")
    assert redact("abcdefgh") == "***"


@pytest.mark.parametrize("value", [None, "", "a", "abc"])
def test_short_values_are_ignored(value: str | None) -> None:
    """Empty and very short values are not registered, so ordinary text survives."""
    register_secret(value)
    assert value not in REGISTRY
    assert redact("abc a") == "abc a"


def test_short_credential_after_bearer_is_ignored() -> None:
    """'Bearer ab' registers the whole value but not the two-letter remainder."""
    register_secret("Bearer ab")
    assert redact("Bearer ab and ab") == "*** and ab"


def test_clear_forgets_secrets() -> None:
    """clear() empties the registry."""
    register_secret(SECRET)
    REGISTRY.clear()
    assert redact(SECRET) == SECRET


def test_mask_url_password_and_secret_params() -> None:
    """mask_url hides the userinfo password and secret-looking query values, keeping the rest."""
    url = "https://user:pa55word@api.test/v1/items?api_key=K123&token=T456&signature=S789&page=2&q=quakes"
    assert mask_url(url) == (
        "https://user:***@api.test/v1/items?api_key=***&token=***&signature=***&page=2&q=quakes"
    )


def test_mask_url_registers_the_password() -> None:
    """A password seen by mask_url is registered, so it is redacted elsewhere too."""
    mask_url("postgresql://loader:pgpass-42@db.test/warehouse")
    assert redact("error near pgpass-42") == "error near ***"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.test/items?page=2",
        "https://user@api.test/items",
        "https://api.test/items?api_key=",
    ],
)
def test_mask_url_leaves_harmless_urls(url: str) -> None:
    """Usernames, empty secret params and ordinary params are kept as they are."""
    assert mask_url(url) == url


def test_mask_url_redacts_registered_secrets_in_path() -> None:
    """A registered secret anywhere in the URL, even the path, is redacted."""
    register_secret(SECRET)
    assert mask_url(f"https://api.test/{SECRET}/items") == "https://api.test/***/items"


def test_seal_unseal_round_trip() -> None:
    """seal replaces secrets by references and unseal restores them exactly."""
    register_secret(SECRET)
    register_secret("p@ss/word")
    text = f"https://api.test/next?key={SECRET}&other=p%40ss%2Fword"
    sealed = seal(text)
    assert SECRET not in sealed and "p%40ss%2Fword" not in sealed
    assert "{{dailyfetch-secret:" in sealed
    assert unseal(sealed) == text


def test_seal_without_secrets_is_identity() -> None:
    """Text without secrets passes through seal and unseal unchanged."""
    assert seal("https://api.test/next?page=2") == "https://api.test/next?page=2"
    assert unseal("https://api.test/next?page=2") == "https://api.test/next?page=2"


def test_unseal_unknown_secret_raises_config_error() -> None:
    """A reference to a secret this process does not have is a ConfigError with a way out."""
    register_secret(SECRET)
    sealed = seal(f"https://api.test/next?key={SECRET}")
    REGISTRY.clear()
    with pytest.raises(ConfigError) as info:
        unseal(sealed)
    assert "refers to a secret this process does not have" in str(info.value)
    assert "--force" in str(info.value)


def test_redact_processor_scrubs_event_fields() -> None:
    """The processor redacts the event, fields, nested dicts, lists, tuples and keys."""
    register_secret(SECRET)
    event = {
        "event": f"calling with {SECRET}",
        "url": f"https://api.test/?k={SECRET}",
        "nested": {"inner": [f"x {SECRET}", {"deep": SECRET}], SECRET: 1},
        "pair": ("ok", SECRET),
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "none": None,
    }
    out = redact_processor(None, "info", event)
    assert out == {
        "event": "calling with ***",
        "url": "https://api.test/?k=***",
        "nested": {"inner": ["x ***", {"deep": "***"}], "***": 1},
        "pair": ["ok", "***"],
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "none": None,
    }


def test_redact_processor_scrubs_exceptions_and_objects() -> None:
    """An exception value or any other object is rendered as text and redacted."""
    register_secret(SECRET)

    class Thing:
        def __str__(self) -> str:
            return f"thing {SECRET}"

    out = redact_processor(None, "error", {"error": ValueError(f"bad {SECRET}"), "obj": Thing()})
    assert out == {"error": "ValueError: bad ***", "obj": "thing ***"}


@pytest.fixture
def reset_structlog() -> Iterator[None]:
    """Restore structlog's default configuration after the test."""
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    "json_logs",
    [
        True,
        pytest.param(
            False,
        ),
    ],
)
def test_logged_traceback_is_redacted(
    json_logs: bool, reset_structlog: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """log.exception() never prints a secret from the exception, as JSON or on a TTY."""
    configure_logging(json_logs=json_logs)
    register_secret(SECRET)
    log = structlog.get_logger()
    try:
        raise RuntimeError(f"HTTP 401 for key {SECRET}")
    except RuntimeError:
        log.exception("partition.failed")
    err = capsys.readouterr().err
    assert "partition.failed" in err
    assert "HTTP 401 for key" in err
    assert SECRET not in err
