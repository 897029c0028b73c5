"""A local replay of the USGS FDSN event web service (``/fdsnws/event/1/query``, GeoJSON).

It follows the behaviour of the real service (https://earthquake.usgs.gov/fdsnws/event/1/
and its implementation, usgs/earthquake-eventws) closely enough for a dailyfetch job:

* ``starttime`` and ``endtime`` are ISO 8601; a time without a zone is UTC. Both bounds
  are inclusive ("on or after", "on or before"). Without ``starttime`` the window is
  the last 30 days.
* ``offset`` is 1-based (``offset=1`` is the first event); ``limit`` is 0..20000.
* ``orderby`` is ``time`` (newest first, the default), ``time-asc``, ``magnitude`` or
  ``magnitude-asc``.
* Past the last event the real service answers ``format=geojson`` with HTTP 200 and
  an empty FeatureCollection; HTTP 204 No Content (or 404 with ``nodata=404``) is what
  the FDSN specification prescribes and what USGS sends for QuakeML. ``past_end``
  chooses: ``"empty_collection"`` (the default, as USGS) or ``"no_content"``.
* A bad parameter is HTTP 400 with a ``text/plain`` body in the FDSN error format
  (``Error 400: Bad Request`` / message / usage / request / time / version), as is an
  unlimited query matching more than 20000 events and any unknown parameter.

Events are generated deterministically per UTC day, seeded by the date, with a
realistic Feature shape and non-ASCII place names. ``extra_events`` adds hand-made
events (e.g. one at exactly midnight). Every request is recorded in ``requests``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.local_server import LocalHTTPServer

Feature = dict[str, Any]

QUERY_PATH = "/fdsnws/event/1/query"
SERVICE_LIMIT = 20000
API_VERSION = "1.14.1"
SITE = "https://earthquake.usgs.gov"
DOCS_URL = f"{SITE}/fdsnws/event/1"
DAY_MS = 86_400_000

_FORMATS = ("quakeml", "geojson", "csv", "kml", "kmlraw", "xml", "text", "cap")
_ORDERS = ("time", "time-asc", "magnitude", "magnitude-asc")
_KNOWN = frozenset({"format", "starttime", "start", "endtime", "end", "offset", "limit"}) | {
    "orderby", "nodata", "minmagnitude", "minmag", "maxmagnitude", "maxmag", "jsonerror",
}  # fmt: skip
# Half of the places carry non-ASCII text, as USGS place names do.
_PLACES = (
    "Ōfunato, Japan", "Guánica, Puerto Rico", "Peñuelas, Puerto Rico", "Reykjanes, Iceland",
    "Kahramanmaraş, Türkiye", "Volcán, Panama", "Mörön, Mongolia", "Árta, Greece",
    "Anza, CA", "Petrolia, CA", "Pāhala, Hawaii", "Cañas, Costa Rica",
    "Nikolski, Alaska", "Ridgecrest, CA", "Concepción, Chile", "Hengchun, Taiwan",
)  # fmt: skip
_DIRECTIONS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W")
_NETS = ("us", "ak", "ci", "nc", "hv", "nn", "uw", "pr", "tx", "ok")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def events_for_day(day: date, count: int | None = None, base_url: str = SITE) -> list[Feature]:
    """The day's events, oldest first: ``count`` of them, or 1001..1499 chosen by the date.

    Every event lies strictly inside the UTC day, never at exactly midnight.
    """
    rng = random.Random(f"usgs-replay:{day.isoformat()}")
    n = count if count is not None else rng.randrange(1001, 1500)
    start_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    times = sorted(start_ms + rng.randrange(1, DAY_MS) for _ in range(n))
    return [_feature(rng, day, i, t, base_url) for i, t in enumerate(times)]


def _base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
    return digits.rjust(width, "0")


def _feature(rng: random.Random, day: date, index: int, when_ms: int, base_url: str) -> Feature:
    net = _NETS[rng.randrange(len(_NETS))]
    code = ("7000" if net == "us" else "") + _base36(day.toordinal() * 10_000 + index, 6)
    event_id = f"{net}{code}"
    mag = round(rng.uniform(-0.5, 7.2), 1)
    place = f"{rng.randrange(1, 120)} km {rng.choice(_DIRECTIONS)} of {rng.choice(_PLACES)}"
    reviewed = rng.random() < 0.7
    felt = rng.randrange(1, 5000) if mag >= 3 and rng.random() < 0.5 else None
    lon, lat = round(rng.uniform(-180, 180), 4), round(rng.uniform(-70, 70), 4)
    depth = round(rng.uniform(-2, 650), 2)
    properties = {
        "mag": mag,
        "place": place,
        "time": when_ms,
        "updated": when_ms + rng.randrange(60_000, 86_400_000),
        "tz": None,
        "url": f"{SITE}/earthquakes/eventpage/{event_id}",
        "detail": f"{base_url}/fdsnws/event/1/query?eventid={event_id}&format=geojson",
        "felt": felt,
        "cdi": round(rng.uniform(1, 8), 1) if felt else None,
        "mmi": round(rng.uniform(1, 9), 3) if mag >= 4 else None,
        "alert": "green" if mag >= 5 else None,
        "status": "reviewed" if reviewed else "automatic",
        "tsunami": int(mag >= 6.5 and rng.random() < 0.5),
        "sig": int(max(0.0, mag) ** 2 * 15) + (felt or 0) // 100,
        "net": net,
        "code": code,
        "ids": f",{event_id},",
        "sources": f",{net},",
        "types": ",origin,phase-data," if reviewed else ",origin,",
        "nst": rng.randrange(4, 120) if net != "us" else None,
        "dmin": round(rng.uniform(0.001, 20), 4),
        "rms": round(rng.uniform(0.01, 1.5), 2),
        "gap": round(rng.uniform(10, 300), 0),
        "magType": "ml" if mag < 4 else rng.choice(("mb", "mww")),
        "type": "earthquake" if rng.random() < 0.95 else "quarry blast",
        "title": f"M {mag} - {place}",
    }
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Point", "coordinates": [lon, lat, depth]},
        "id": event_id,
    }


class BadRequest(Exception):
    """A parameter the real service rejects with HTTP 400."""


def parse_time(name: str, value: str) -> int:
    """An FDSN time parameter as epoch milliseconds; a value without a zone is UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f'Bad {name} value "{value}". Valid values are ISO-8601 timestamps.') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def _integer(name: str, value: str, low: int, high: int | None) -> int:
    if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        bounds = f"{low} <= {name}" + (f" <= {high}" if high is not None else "")
        raise BadRequest(f'Bad {name} value "{value}". Valid values are {bounds}')
    return int(value)


def _enumerated(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        listed = '", "'.join(allowed)
        raise BadRequest(f'Bad {name} value "{value}". Valid values are: "{listed}".')
    return value


@dataclass
class USGSReplay(LocalHTTPServer):
    """A threaded HTTP server replaying the USGS FDSN event service; see the module docstring."""

    events_per_day: int | None = None
    past_end: str = "empty_collection"
    extra_events: list[Feature] = field(default_factory=list)
    fail: Callable[[dict[str, Any]], tuple[int, str] | None] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _days: dict[date, list[Feature]] = field(default_factory=dict)

    def events_between(self, start_ms: int, end_ms: int) -> list[Feature]:
        """Every event with ``start_ms <= time <= end_ms`` (both inclusive), oldest first."""
        first = datetime.fromtimestamp(start_ms / 1000, UTC).date()
        last = datetime.fromtimestamp(end_ms / 1000, UTC).date()
        found: list[Feature] = []
        day = first
        while day <= last:
            found += self.day(day)
            day += timedelta(days=1)
        found += self.extra_events
        inside = [f for f in found if start_ms <= f["properties"]["time"] <= end_ms]
        return sorted(inside, key=lambda f: (f["properties"]["time"], f["id"]))

    def day(self, day: date) -> list[Feature]:
        """The generated events of one UTC day (cached)."""
        with self._lock:
            if day not in self._days:
                self._days[day] = events_for_day(day, self.events_per_day)
            return self._days[day]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        pairs = parse_qs(parts.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in pairs.items()}
        seen = {"path": parts.path, "query": query, "headers": dict(handler.headers.items())}
        with self._lock:
            self.requests.append(seen)
        if self.fail is not None:
            injected = self.fail(seen)
            if injected is not None:
                self._send(handler, injected[0], injected[1].encode(), "text/plain")
                return
        if parts.path.rstrip("/") != QUERY_PATH:
            self._error(handler, 404, "Not Found", f"No method at {parts.path}.")
            return
        try:
            status, body = self._query(query, handler.path)
        except BadRequest as exc:
            self._error(handler, 400, "Bad Request", str(exc))
            return
        if status == 204:
            self._send(handler, 204, b"", None)
        elif status == 404:
            self._error(handler, 404, "Not Found", "Not Found")
        elif status == 501:
            self._error(handler, 501, "Not Implemented", body)
        else:
            self._send(handler, 200, json.dumps(body, ensure_ascii=False).encode(), "application/json")

    def _query(self, q: dict[str, str], request_path: str) -> tuple[int, Any]:
        values = {k: v for k, v in q.items() if v != ""}  # the service ignores empty values
        for name in values:
            if name not in _KNOWN:
                raise BadRequest(f'Unknown parameter "{name}".')
        fmt = _enumerated("format", values.get("format", "quakeml"), _FORMATS)
        now_ms = int(time.time() * 1000)
        end_value = values.get("endtime", values.get("end"))
        start_value = values.get("starttime", values.get("start"))
        end_ms = parse_time("endtime", end_value) if end_value else now_ms
        start_ms = parse_time("starttime", start_value) if start_value else now_ms - 30 * DAY_MS
        offset = _integer("offset", values["offset"], 1, None) if "offset" in values else 1
        limit = _integer("limit", values["limit"], 0, SERVICE_LIMIT) if "limit" in values else None
        order = _enumerated("orderby", values.get("orderby", "time"), _ORDERS)
        nodata = int(_enumerated("nodata", values.get("nodata", "204"), ("204", "404")))
        if fmt != "geojson":
            return 501, f"This replay serves format=geojson only, not {fmt}."
        events = self.events_between(start_ms, end_ms)
        if limit is None and len(events) > SERVICE_LIMIT:
            raise BadRequest(
                f"{len(events)} matching events exceeds search limit of {SERVICE_LIMIT}. "
                "Modify the search to match fewer events."
            )
        events = _ordered(events, order)
        page = events[offset - 1 : None if limit is None else offset - 1 + limit]
        if not page and self.past_end == "no_content":
            return nodata, None
        return 200, self._collection(page, request_path, now_ms)

    def _collection(self, features: list[Feature], request_path: str, now_ms: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "FeatureCollection",
            "metadata": {
                "generated": now_ms,
                "url": f"{self.url}{request_path}",
                "title": "USGS Earthquakes",
                "status": 200,
                "api": API_VERSION,
                "count": len(features),
            },
            "features": features,
        }
        if features:
            coords = [f["geometry"]["coordinates"] for f in features]
            body["bbox"] = [min(c[i] for c in coords) for i in range(3)] + [
                max(c[i] for c in coords) for i in range(3)
            ]
        return body

    def _error(self, handler: BaseHTTPRequestHandler, code: int, reason: str, message: str) -> None:
        submitted = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        text = "\n".join(
            [
                f"Error {code}: {reason}", "", message, "",
                f"Usage details are available from {DOCS_URL}", "",
                "Request:", handler.path, "",
                "Request Submitted:", submitted, "",
                "Service version:", API_VERSION,
            ]
        )  # fmt: skip
        self._send(handler, code, text.encode(), "text/plain")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None) -> None:
        handler.send_response(status)
        if content_type is not None:
            handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
        if status != 204:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)


def _ordered(events: list[Feature], order: str) -> list[Feature]:
    if order == "time-asc":
        return events
    if order == "time":
        return events[::-1]
    key: Callable[[Feature], Any] = lambda f: (f["properties"]["mag"], f["properties"]["time"])  # noqa: E731
    return sorted(events, key=key, reverse=order == "magnitude")
