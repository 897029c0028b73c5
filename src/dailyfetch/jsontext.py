"""JSON text to Python values and back, exactly: integers of any size, values nested deep.

orjson, the fast codec used elsewhere, turns an integer beyond 64 bits into a float
when it decodes (``123456789012345678901234567890`` becomes ``1.2345678901234568e+29``,
silently) and refuses one when it encodes, and it encodes only 254 levels of nesting.
RFC 8259 leaves integer size to the implementation, and PostgreSQL's ``jsonb`` and
``numeric`` keep every digit, so records are decoded here with msgspec, which keeps
integers exact (and is otherwise equal to orjson's decoding); orjson decodes what
msgspec's recursion limit refuses (up to 1,023 levels). Encoding tries orjson and
falls back to an encoder of its own that handles any integer and any depth.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
import orjson

from dailyfetch.errors import SourceError

MAX_DEPTH = 1023  # orjson's decoding limit: the deepest body dailyfetch decodes
_DECODER = msgspec.json.Decoder()
_BIG_INT = re.compile(rb"[0-9]{19}")
_escape = json.encoder.encode_basestring  # the C encoder's string escaping


class NestingError(SourceError):
    """A JSON text nested deeper than dailyfetch decodes."""


def loads(content: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value of ``content``, integers exact; raises ``orjson.JSONDecodeError`` if it is not JSON.

    A text nested deeper than :data:`MAX_DEPTH` levels is a :class:`NestingError`.
    """
    try:
        return _DECODER.decode(content)
    except (msgspec.DecodeError, RecursionError):
        pass  # not JSON (orjson then says why), a number out of range, or nested too deep for msgspec
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise NestingError(
                f"a JSON body nests deeper than {MAX_DEPTH:,} levels, more than dailyfetch decodes",
                hint="flatten the records in a Python source ([source] kind = 'python'), or ask the API for less nesting",
            ) from None
        raise
    data = content.encode() if isinstance(content, str) else bytes(content)
    if _BIG_INT.search(data):  # orjson would have rounded an integer beyond 64 bits
        raise NestingError(
            "a JSON body nests too deep for exact decoding and may hold integers beyond 64 bits",
            hint="flatten the records in a Python source ([source] kind = 'python')",
        )
    return value


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON text: orjson's, else (integers beyond 64 bits, deep nesting) :func:`_encode`'s.

    A NaN or infinite float is ``null``, as orjson writes it.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _encode(value).encode()


def _encode(value: Any) -> str:
    """The JSON text of ``value`` without recursion (any depth); keys must be strings."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item.text)
        elif isinstance(item, str):
            out.append(_escape(item))
        elif item is None or item is True or item is False:
            out.append("null" if item is None else "true" if item else "false")
        elif isinstance(item, int):
            out.append(int.__repr__(item))
        elif isinstance(item, float):
            out.append(float.__repr__(item) if math.isfinite(item) else "null")
        elif isinstance(item, dict):
            stack.append(_CLOSE_OBJECT)
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, member = entries[index]
                if not isinstance(key, str):
                    raise TypeError(f"a JSON object's keys are strings, not {type(key).__name__}")
                stack.append(member)
                stack.append(_Token(("," if index else "") + _escape(key) + ":"))
            out.append("{")
        elif isinstance(item, list | tuple):
            stack.append(_CLOSE_ARRAY)
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_COMMA)
            out.append("[")
        else:
            raise TypeError(f"{type(item).__name__} is not a JSON value")
    return "".join(out)


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_CLOSE_OBJECT, _CLOSE_ARRAY, _COMMA = _Token("}"), _Token("]"), _Token(",")
