"""Write a moved cursor value back in the API's own spelling.

A high-water mark is sent back exactly as the API wrote it (see
:mod:`dailyfetch.incremental`). Only ``mark - lookback`` is a value the API never
wrote; it is spelled like the mark, because APIs backed by SQLite (Datasette) or
JavaScript (json-server) compare timestamps as text, where
``"…12:00:00.500Z" > "…12:00:00Z"`` is false.

Timestamps keep the mark's date/time separator (``T``, ``t`` or a space), its
fields (minutes, seconds, the number of fraction digits and ``.`` or ``,``) and its
zone (``Z``, ``z``, the same offset in the same form, or none for a naive one,
which is read as UTC). The shifted instant is rounded *down* to the precision the
mark shows, so rounding can only refetch more, never skip. A timestamp in another
ISO 8601 form (basic ``20250301T120000Z``, week dates) is written as extended ISO 8601
in UTC with ``Z``. Numbers are shifted in decimal arithmetic and keep their number
of decimal places.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal, InvalidOperation

_EXTENDED = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:(?P<sep>[Tt ])(?P<hm>\d{2}:\d{2})(?::(?P<s>\d{2})(?:(?P<dot>[.,])(?P<frac>\d+))?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def _zone_of(text: str) -> timezone | None:
    """The fixed zone a zone suffix names (``None`` for none)."""
    if not text:
        return None
    if text in "Zz":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return timezone(sign * timedelta(minutes=minutes))


def shift_timestamp(text: str, instant: datetime, seconds: float) -> str:
    """``instant - seconds`` spelled like ``text`` (the mark ``instant`` was parsed from)."""
    moved = instant - timedelta(seconds=seconds)
    style = _EXTENDED.fullmatch(text.strip())
    if style is None:
        return moved.astimezone(UTC).isoformat().replace("+00:00", "Z")
    zone = _zone_of(style["zone"] or "")
    local = moved.astimezone(zone or UTC)
    if zone is None:
        local = local.replace(tzinfo=None)
    out = local.date().isoformat()
    if style["hm"] is not None:
        out += f"{style['sep']}{local.hour:02d}:{local.minute:02d}"
        if style["s"] is not None:
            out += f":{local.second:02d}"
            if style["frac"] is not None:
                digits = len(style["frac"])
                shown = min(digits, 6)
                fraction = f"{local.microsecond:06d}"[:shown] + "0" * (digits - shown)
                out += style["dot"] + fraction
    return out + (style["zone"] or "")


def shift_number(text: str, step: str) -> str:
    """``text - step`` in decimal arithmetic, keeping the decimal places (``"1.50" - "0.5"`` is ``"1.00"``)."""
    try:
        context = Context(prec=len(text) + len(step) + 30)
        result = context.subtract(Decimal(text.strip()), Decimal(step.strip()))
    except InvalidOperation:
        raise ValueError(f"{text!r} - {step!r} is not a number") from None
    return format(result, "f")
