"""No fragment of a secret survives where text is cut, and secrets are masked in every JSON encoder's escapes (issue 15 #14)."""

from __future__ import annotations

import json

import httpx
import pytest

from dailyfetch.errors import SourceError
from dailyfetch.fetch.http import body_preview
from dailyfetch.fetch.links import parse_link_header
from dailyfetch.redact import clip, redact, redact_head, register_secret

TOKEN = "rvtok0123456789abcdef"


def _fragments(secret: str) -> list[str]:
    """Every piece of ``secret`` of 4 characters or more."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + 4, len(secret) + 1)]


def _response(body: bytes) -> httpx.Response:
    return httpx.Response(400, content=body, request=httpx.Request("GET", "http://api.test/x"))


@pytest.mark.parametrize("pad", [" ", "x", "\n"])
def test_body_preview_shows_no_fragment_of_a_secret_cut_at_the_read_limit(pad: str) -> None:
    """A token placed across the preview's byte limit (at every offset) is masked or dropped whole, never shown in part."""
    register_secret(TOKEN)
    for offset in range(960 - len(TOKEN) - 2, 962):
        shown = body_preview(_response((pad * offset + TOKEN + " was rejected").encode()))
        leaked = [f for f in _fragments(TOKEN) if f in shown]
        assert leaked == [], (offset, shown)


def test_body_preview_of_a_short_body_still_masks_the_secret() -> None:
    """A body shorter than the read limit is redacted whole: the token is ***, the rest shown."""
    register_secret(TOKEN)
    assert body_preview(_response(f"denied {TOKEN} here".encode())) == "'denied *** here'"


def test_collapsing_whitespace_cannot_join_a_secret_back() -> None:
    """A secret holding a space, sent with the space doubled, is masked after whitespace is collapsed."""
    register_secret("two words-secret")
    assert body_preview(_response(b"x two  words-secret y")) == "'x *** y'"


def test_clip_masks_a_secret_across_the_limit_instead_of_cutting_it() -> None:
    """clip redacts before it cuts: a secret straddling the limit leaves no part of itself."""
    register_secret(TOKEN)
    text = "a" * 20 + TOKEN + "b" * 20
    for limit in range(18, 45):
        shown = clip(text, limit)
        assert not [f for f in _fragments(TOKEN) if f in shown], (limit, shown)
        assert len(shown) <= limit


def test_redact_head_drops_the_tail_a_cut_secret_may_start_in() -> None:
    """Text that is the head of a longer one loses its last len(longest secret) characters; whole secrets are masked."""
    register_secret(TOKEN)
    head = f"ok {TOKEN} and " + TOKEN[:9]
    shown = redact_head(head)
    assert shown.startswith("ok ***") and redact(head).startswith(shown)
    assert not [f for f in _fragments(TOKEN) if f in shown]
    assert redact_head("short") == ""  # all of it could be the start of the token
    assert redact_head("") == ""


def test_malformed_link_header_echo_shows_no_fragment() -> None:
    """A malformed Link header echoed in the error is redacted before it is cut to 200 characters."""
    register_secret(TOKEN)
    for offset in range(180, 201):
        with pytest.raises(SourceError) as caught:
            parse_link_header("<" + "x" * offset + TOKEN)
        assert not [f for f in _fragments(TOKEN) if f in str(caught.value)], offset


def test_notification_error_line_shows_no_fragment() -> None:
    """A notification's one-line error is redacted before it is cut."""
    from dailyfetch.notify import _ERROR_MAX, _one_line

    register_secret(TOKEN)
    for offset in range(_ERROR_MAX - len(TOKEN), _ERROR_MAX + 1):
        shown = _one_line("e" * offset + TOKEN)
        assert not [f for f in _fragments(TOKEN) if f in shown], offset


# Secrets as JSON encoders other than Python's write them.
GO_KEY = "k3y&v<a>lue-RVSECRET"


@pytest.mark.parametrize(
    ("secret", "echoed"),
    [
        (GO_KEY, "k3y\\u0026v\\u003ca\\u003elue-RVSECRET"),  # Go encoding/json (HTML-safe, the default)
        (GO_KEY, "k3y\\u0026v\\u003Ca\\u003Elue-RVSECRET"),  # the same, upper-case hex
        ("s3cr\u00e9t-\U0001f511-key", "s3cr\\u00e9t-\\ud83d\\udd11-key"),  # ensure_ascii, surrogate pair
        ("s3cr\u00e9t-\U0001f511-key", "s3cr\\u00E9t-\\uD83D\\uDD11-key"),  # Jackson ESCAPE_NON_ASCII
        ("line\u2028sep\u2029-secret", "line\\u2028sep\\u2029-secret"),  # Go / JS-safe: only U+2028/2029
        ("p/é&<x>-secret", "p\\/\\u00e9\\u0026\\u003cx\\u003e-secret"),  # PHP-like: \/ and ASCII, HTML-safe
        ("it's-a-secret", "it\\u0027s-a-secret"),  # apostrophe escaped (PHP JSON_HEX_APOS, Rails)
    ],
)
def test_json_escapes_of_other_encoders_are_redacted(secret: str, echoed: str) -> None:
    """A secret echoed in a JSON string by Go, PHP, Jackson or an ensure_ascii encoder is masked."""
    register_secret(secret)
    assert redact(f'{{"error": "invalid api key {echoed}"}}') == '{"error": "invalid api key ***"}'


def test_a_header_echoed_as_iso_8859_1_is_redacted() -> None:
    """A non-ASCII header sent as UTF-8 and echoed by a server that reads header bytes as ISO-8859-1 is masked."""
    secret = "cl\u00e9-\U0001f511-RVSECRET2"
    register_secret(secret)
    echoed = json.dumps(secret.encode().decode("latin-1"))[1:-1]
    assert redact(f"key {echoed} bad") == "key *** bad"
