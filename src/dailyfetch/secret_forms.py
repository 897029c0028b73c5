"""The forms a secret takes in text: URL-encoded, base64, and escaped as JSON encoders escape it.

Used by :mod:`dailyfetch.redact`, which registers every form of each secret.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 4

# What JSON encoders may escape besides '"', '\\' and control characters (RFC 8259 section 7 allows
# any character as \uXXXX): '/' (PHP), HTML's & < > (Go's encoding/json by default, Rails), "'"
# (PHP's JSON_HEX_APOS), U+2028/U+2029 (Go always, JS-safe encoders), and every non-ASCII
# character (Python's ensure_ascii, Jackson's ESCAPE_NON_ASCII: UTF-16 surrogate pairs above
# U+FFFF), with lower- or upper-case hex.
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_JSON_OPTIONAL = frozenset("/&<>'\u2028\u2029")


def _json_escaped(value: str, *, escape: frozenset[str], non_ascii: bool, upper: bool) -> str:
    """``value`` as a JSON string's content, with ``escape``'s characters (and non-ASCII ones) as \\uXXXX."""
    out = []
    for char in value:
        code = ord(char)
        if char in _JSON_SHORT:
            out.append(_JSON_SHORT[char])
        elif char == "/" and "/" in escape:
            out.append("\\/")
        elif code < 0x20 or char in escape or (non_ascii and code > 0x7E):
            units = [code] if code <= 0xFFFF else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
            out += [(f"\\u{unit:04X}" if upper else f"\\u{unit:04x}") for unit in units]
        else:
            out.append(char)
    return "".join(out)


def _json_forms(value: str) -> set[str]:
    """The forms ``value`` takes inside a JSON string, as the encoders in use write it."""
    optional = _JSON_OPTIONAL.intersection(value)
    if not optional and value.isascii() and not any(c in _JSON_SHORT or ord(c) < 0x20 for c in value):
        return {value}  # nothing any encoder escapes: the usual token
    html_safe = frozenset("&<>\u2028\u2029")  # Go's encoding/json, Rails' json_escape
    sets = {frozenset(), frozenset("/"), frozenset("\u2028\u2029"), html_safe, html_safe | {"/"},
            html_safe | {"'"}, frozenset("/'"), frozenset(_JSON_OPTIONAL)}  # fmt: skip
    return {
        _json_escaped(value, escape=escape & optional, non_ascii=non_ascii, upper=upper)
        for escape in sets
        for non_ascii in (False, True)
        for upper in (False, True)
    }


def _html_escape(value: str) -> str:
    """``html.escape(value)``, without importing :mod:`html` (its entity table costs 2 ms of every
    run's start-up)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def secret_forms(value: str) -> set[str]:
    """The forms ``value`` takes in text: as is, URL-encoded, base64, JSON- and HTML-escaped.

    JSON escapes are those of the encoders APIs use (:func:`_json_forms`): Python's (with
    ``ensure_ascii``), Go's ``encoding/json`` (``\\u0026 \\u003c \\u003e``, ``\\u2028``), PHP's
    (``\\/``), Jackson's upper-case hex, surrogate pairs above U+FFFF.
    """
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    raw = value.encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms |= {encoded.decode(), encoded.decode().rstrip("=")}
    forms |= _json_forms(value)
    if not value.isascii():  # the UTF-8 bytes of a header read as ISO-8859-1 (RFC 9110 5.5), then echoed
        forms |= _json_forms(raw.decode("latin-1"))
    forms |= {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {value.replace("/", "\\/"), _html_escape(value)}
    if value.lower().startswith(("bearer ", "basic ", "token ")):
        forms.add(value.split(" ", 1)[1])
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}
