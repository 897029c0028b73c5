"""Pagination against servers written from the other side of the wire: RFC 8288 Link headers,
APIs that loop (a page parameter ignored, cursors and next URLs that cycle) and pages that are
empty or null in the middle of a stream. Each test asserts on what lands in PostgreSQL, on the
run's outcome, and on the requests the server saw (never on wall time)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest

from dailyfetch.runner import RunResult, run_job
from support.configs import load

DAY = date(2026, 11, 1)
Answer = tuple[int, dict[str, str], bytes]


class WireAPI:
    """An HTTP/1.1 server on 127.0.0.1: ``answer(path, query)`` gives each GET's status, headers and
    body; every request's path and query is recorded in order. Past ``CAP`` requests it answers
    410 Gone, so a client that loops ends (and its test fails) instead of hanging."""

    CAP = 300

    def __init__(self, answer: Callable[[str, dict[str, str]], Answer]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = dict(parse_qsl(split.query, keep_blank_values=True))
                with owner._lock:
                    owner.requests.append((split.path, query))
                if len(owner.requests) > owner.CAP:
                    status, headers, body = 410, {}, b'{"error": "test server: request cap reached"}'
                else:
                    status, headers, body = owner.answer(split.path, query)
                self.send_response(status)
                for name, value in headers.items():
                    for one in value.split("\n"):  # a name given several values: several header lines
                        self.send_header(name, one)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str, dict[str, str]], Answer]], WireAPI]]:
    """Start a :class:`WireAPI` for an answer function; stopped after the test."""
    started: list[WireAPI] = []

    def start(answer: Callable[[str, dict[str, str]], Answer]) -> WireAPI:
        started.append(WireAPI(answer))
        return started[-1]

    yield start
    for api in started:
        api.stop()


def ok(body: Any, **headers: str) -> Answer:
    """A 200 JSON answer."""
    return 200, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def records(page: int, per: int = 3) -> list[dict[str, Any]]:
    """The records of page ``page`` (1-based): ids ``page*100 + i``."""
    return [{"id": page * 100 + i, "v": f"p{page}r{i}"} for i in range(per)]


def job(
    url: str, pagination: str, *, records_path: str | None = "items", extra: str = "", write: str = "merge"
) -> str:
    """A one-partition job text for ``url``; ``append`` jobs have no primary key."""
    lines = [
        "[job]",
        'name = "wire"',
        "[source]",
        'kind = "rest"',
        f'url = "{url}"',
        f"pagination = {pagination}",
    ]
    if records_path:
        lines.append(f'records = "{records_path}"')
    lines += [extra, "[destination]", 'table = "items"', "batch_size = 1", f'write = "{write}"']
    if write != "append":
        lines.append('primary_key = ["id"]')
    return "\n".join(lines) + "\n"


def run(text: str, db_url: str) -> RunResult:
    return run_job(load(text), logical_date=DAY, database_url=db_url)


def landed(db_url: str) -> list[int]:
    """The ids in the destination table, in order (repeats kept)."""
    with psycopg.connect(db_url) as conn:
        exists = conn.execute("SELECT to_regclass('public.items')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]


def run_status(db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT status FROM dailyfetch.runs ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


# --- RFC 8288 Link relations -------------------------------------------------------------------

LINK_FORMS = {
    "capitalised": lambda n: f'<{n}>; rel="Next"',
    "a list of types": lambda n: f'<{n}>; rel="next last"',
    "unquoted, upper case": lambda n: f"<{n}>; REL=NEXT",
    "after a prev link, a URI with a comma": lambda n: (
        f'</items?p=0,x>; rel="prev", <{n}>; title="a, b"; rel="next"'
    ),
    "two header lines": lambda n: f'</items?p=9>; rel="last"\n<{n}>; rel="next"',
    "rel given twice (the first counts)": lambda n: f'<{n}>; rel="next"; rel="prev"',
}


@pytest.mark.parametrize("form", list(LINK_FORMS))
def test_every_rfc8288_form_of_rel_next_is_followed(form: str, serve: Any, db_url: str) -> None:
    """Relation types are case-insensitive and space-separated, in any Link header line; relative
    URIs resolve against the request URL: every page lands."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = int(query.get("p", "1"))
        following = f"items?p={page + 1}" if page < 4 else None  # relative to /v1/items
        headers = {"Link": LINK_FORMS[form](following)} if following else {}
        return ok(records(page), **headers)

    api = serve(answer)
    result = run(job(f"{api.url}/v1/items", '{ kind = "link_header" }', records_path=None), db_url)
    assert result.outcome == "succeeded", result.error
    assert landed(db_url) == sorted(r["id"] for p in range(1, 5) for r in records(p))
    assert [(p, q.get("p")) for p, q in api.requests] == [("/v1/items", None)] + [
        ("/v1/items", str(n)) for n in (2, 3, 4)
    ]


def test_two_different_next_links_fail_naming_both(serve: Any, db_url: str) -> None:
    """A page that names two different next pages is ambiguous: the run fails and names them."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        return ok(records(1), Link='</a?p=2>; rel="next", </b?p=2>; rel="next"')

    api = serve(answer)
    result = run(job(f"{api.url}/items", '{ kind = "link_header" }', records_path=None), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "/a?p=2" in result.error and "/b?p=2" in result.error, result.error
    assert len(api.requests) == 1


# --- the end of a stream, and what is not the end -------------------------------------------------

PAGINATIONS = {
    "page_number": '{ kind = "page_number" }',
    "offset": '{ kind = "offset", limit = 3 }',
    "cursor": '{ kind = "cursor", path = "next" }',
    "from_last_record": '{ kind = "cursor", param = "after", from_last_record = "id", has_more = "has_more" }',
    "next_url": '{ kind = "next_url", path = "next" }',
    "link_header": '{ kind = "link_header" }',
}
LAST = 4  # pages 1 to 4 hold records


def page_of(kind: str, query: dict[str, str]) -> int:
    """Which page (1-based) a request of ``kind`` asks for."""
    if kind == "page_number":
        return int(query["page"])
    if kind == "offset":
        return int(query["offset"]) // 3 + 1
    if kind == "from_last_record":
        return int(query["after"]) // 100 + 1 if "after" in query else 1
    return int(query.get("cursor" if kind == "cursor" else "n", "1"))


def stream(
    kind: str, *, fault_at: int | None = None, fault: Answer | None = None
) -> Callable[[str, dict[str, str]], Answer]:
    """Pages 1 to LAST of three records each, paged the way ``kind`` pages (past LAST, an empty list
    for page_number and offset); page ``fault_at`` answers ``fault`` instead."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = page_of(kind, query)
        if page == fault_at and fault is not None:
            return fault
        more = page < LAST
        body: dict[str, Any] = {"items": records(page) if page <= LAST else []}
        headers: dict[str, str] = {}
        if kind == "cursor" and more:
            body["next"] = str(page + 1)
        elif kind == "next_url":
            body["next"] = f"/items?n={page + 1}" if more else None
        elif kind == "link_header" and more:
            headers["Link"] = f'</items?n={page + 1}>; rel="next"'
        elif kind == "from_last_record":
            body["has_more"] = more
        return ok(body, **headers)

    return answer


EMPTY_200: Answer = (200, {"Content-Type": "application/json"}, b"")
NULL_ITEMS: Answer = ok({"items": None})


@pytest.mark.parametrize("kind", list(PAGINATIONS))
def test_an_empty_200_body_in_the_middle_fails_the_run(kind: str, serve: Any, db_url: str) -> None:
    """An empty body with 200 is no page of any kind: the run fails naming the URL, after the pages
    before it, and asks for nothing after it."""
    api = serve(stream(kind, fault_at=2, fault=EMPTY_200))
    result = run(job(f"{api.url}/items", PAGINATIONS[kind]), db_url)
    assert result.outcome == "failed" and result.exit_code == 1, (result.outcome, landed(db_url))
    assert result.error is not None and "empty body" in result.error and "/items" in result.error, (
        result.error
    )
    assert landed(db_url) == [r["id"] for r in records(1)]
    assert len(api.requests) == 2
    assert run_status(db_url) == "failed"


@pytest.mark.parametrize("kind", ["page_number", "offset", "from_last_record"])
def test_null_records_in_the_middle_fail_where_an_empty_page_is_the_end(
    kind: str, serve: Any, db_url: str
) -> None:
    """``"items": null`` is not the empty list that ends these kinds: the run fails naming the path."""
    api = serve(stream(kind, fault_at=2, fault=NULL_ITEMS))
    result = run(job(f"{api.url}/items", PAGINATIONS[kind]), db_url)
    assert result.outcome == "failed", (result.outcome, landed(db_url))
    assert result.error is not None and "'items'" in result.error and "null" in result.error, result.error
    assert landed(db_url) == [r["id"] for r in records(1)]
    assert len(api.requests) == 2


@pytest.mark.parametrize(("kind", "fault"), [("cursor", {"next": "3"}), ("next_url", {"next": "/items?n=3"})])
@pytest.mark.parametrize("items", [[], None])
def test_an_empty_page_with_a_next_page_continues(
    kind: str, fault: dict[str, Any], items: Any, serve: Any, db_url: str
) -> None:
    """Where the end is the absence of a next cursor or URL, a page with no records (``[]`` or
    ``null``) that names a next page is passed, and every later page lands."""
    api = serve(stream(kind, fault_at=2, fault=ok({"items": items, **fault})))
    result = run(job(f"{api.url}/items", PAGINATIONS[kind]), db_url)
    assert result.outcome == "succeeded", result.error
    assert landed(db_url) == [r["id"] for p in (1, 3, 4) for r in records(p)]
    assert len(api.requests) == LAST


def test_an_empty_page_that_says_has_more_fails(serve: Any, db_url: str) -> None:
    """From the last record: an empty page with ``has_more = true`` has no record to continue from."""
    api = serve(stream("from_last_record", fault_at=2, fault=ok({"items": [], "has_more": True})))
    result = run(job(f"{api.url}/items", PAGINATIONS["from_last_record"]), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "has_more" in result.error, result.error
    assert landed(db_url) == [r["id"] for r in records(1)]


@pytest.mark.parametrize("kind", list(PAGINATIONS))
def test_the_documented_end_ends_and_every_page_lands(kind: str, serve: Any, db_url: str) -> None:
    """Each kind's documented end (an empty list, no next cursor or URL or link, has_more false)
    ends the stream after every page landed; page_number and offset ask for one page past it."""
    api = serve(stream(kind))
    result = run(job(f"{api.url}/items", PAGINATIONS[kind]), db_url)
    assert result.outcome == "succeeded", result.error
    assert landed(db_url) == [r["id"] for p in range(1, LAST + 1) for r in records(p)]
    assert len(api.requests) == LAST + (kind in ("page_number", "offset"))


@pytest.mark.parametrize("kind", ["page_number", "offset", "cursor"])
def test_http_204_ends_the_stream(kind: str, serve: Any, db_url: str) -> None:
    """HTTP 204 No Content is the end for page_number, offset and cursor paging."""
    api = serve(stream(kind, fault_at=3, fault=(204, {}, b"")))
    result = run(job(f"{api.url}/items", PAGINATIONS[kind]), db_url)
    assert result.outcome == "succeeded", result.error
    assert landed(db_url) == [r["id"] for p in (1, 2) for r in records(p)]
    assert len(api.requests) == 3


def test_an_empty_200_body_for_a_single_request_fails(serve: Any, db_url: str) -> None:
    """With no pagination, an empty 200 body is not 'no records today': the run fails."""
    api = serve(lambda path, query: EMPTY_200)
    result = run(job(f"{api.url}/items", '{ kind = "none" }'), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "empty body" in result.error, result.error


def test_a_json_null_body_is_not_an_empty_page(serve: Any, db_url: str) -> None:
    """A body that is JSON ``null`` where the list of records should be fails as null records do."""
    api = serve(lambda path, query: (200, {"Content-Type": "application/json"}, b"null"))
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], records_path=None), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "null" in result.error, result.error


# --- APIs that loop --------------------------------------------------------------------------------


def same_page(path: str, query: dict[str, str]) -> Answer:
    """An API that ignores every paging parameter: each answer is the first page."""
    return ok({"items": records(1)})


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("kind", ["page_number", "offset"])
def test_an_api_that_ignores_the_page_parameter_fails_at_the_first_repeat(
    kind: str, concurrency: int, serve: Any, db_url: str
) -> None:
    """Every page the same: the second is found to repeat the first, the run fails naming it, and the
    append table holds the records once (not once per request)."""
    api = serve(same_page)
    extra = f"concurrency = {concurrency}"
    result = run(job(f"{api.url}/items", PAGINATIONS[kind], extra=extra, write="append"), db_url)
    assert result.outcome == "failed" and result.exit_code == 1
    assert result.error is not None and "page 1 of this attempt" in result.error, result.error
    assert ("page=2" if kind == "page_number" else "offset=3") in result.error, result.error
    assert landed(db_url) == [r["id"] for r in records(1)]
    assert run_status(db_url) == "failed"
    print(f"LOOP | ignored {kind} param, concurrency {concurrency} | requests={len(api.requests)}")
    assert len(api.requests) <= 2 + 2 * concurrency  # the page that repeats and those already queued


def test_records_that_repeat_under_a_fresh_envelope_are_a_loop(serve: Any, db_url: str) -> None:
    """An API that ignores the page parameter but stamps each answer (a request id): the records equal
    the previous page's, so the run fails at the second page."""
    count = iter(range(10**6))
    api = serve(lambda path, query: ok({"items": records(1), "request_id": next(count)}))
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], write="append"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "same records as the page before" in result.error, result.error
    assert landed(db_url) == [r["id"] for r in records(1)]
    assert len(api.requests) == 2


def test_cursors_that_cycle_fail_before_asking_again(serve: Any, db_url: str) -> None:
    """Cursors A → B → A: the first page, A and B land; B's next cursor, A, is named and not requested."""
    following = {"": "A", "A": "B", "B": "A"}
    pages = {"": 1, "A": 2, "B": 3}

    def answer(path: str, query: dict[str, str]) -> Answer:
        cursor = query.get("cursor", "")
        return ok({"items": records(pages[cursor]), "next": following[cursor]})

    api = serve(answer)
    result = run(job(f"{api.url}/items", '{ kind = "cursor", path = "next" }', write="append"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "cursor 'A'" in result.error and "page 2" in result.error, (
        result.error
    )
    assert landed(db_url) == [r["id"] for p in (1, 2, 3) for r in records(p)]
    assert [q.get("cursor") for _, q in api.requests] == [None, "A", "B"]


def test_next_urls_that_cycle_fail_before_asking_again(serve: Any, db_url: str) -> None:
    """next URLs /items → ?n=2 → ?n=3 → ?n=2: the cycle is named at its third page, and ?n=2 is not asked again."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = int(query.get("n", "1"))
        return ok({"items": records(page), "next": f"/items?n={2 if page == 3 else page + 1}"})

    api = serve(answer)
    result = run(job(f"{api.url}/items", PAGINATIONS["next_url"], write="append"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "/items?n=2" in result.error and "page 2" in result.error, (
        result.error
    )
    assert landed(db_url) == [r["id"] for p in (1, 2, 3) for r in records(p)]
    assert len(api.requests) == 3


def test_links_that_cycle_under_fresh_urls_are_caught_by_their_records(serve: Any, db_url: str) -> None:
    """Link next URLs that never repeat (a nonce in each) over pages 1 → 2 → 1 → 2: the third page's body
    is the first's, so the run fails there."""
    nonce = iter(range(10**6))

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = int(query.get("n", "1"))
        return ok(records(page), Link=f'</items?n={3 - page}&nonce={next(nonce)}>; rel="next"')

    api = serve(answer)
    result = run(
        job(f"{api.url}/items", PAGINATIONS["link_header"], records_path=None, write="append"), db_url
    )
    assert result.outcome == "failed"
    assert result.error is not None and "same records as page 1" in result.error, result.error
    assert landed(db_url) == [r["id"] for p in (1, 2) for r in records(p)]
    assert len(api.requests) == 3


def test_a_rerun_after_a_loop_does_not_append_the_repeat(serve: Any, db_url: str) -> None:
    """The loop's failure is found again by the next run at its first page (the last committed page's
    digest is kept in the progress): rerun after rerun, the append table holds the records once."""
    api = serve(same_page)
    text = job(f"{api.url}/items", PAGINATIONS["page_number"], write="append")
    for attempt in range(3):
        result = run(text, db_url)
        assert result.outcome == "failed", attempt
        assert (
            result.error is not None and "committed before this attempt" in result.error
        ) or attempt == 0, result.error
    assert landed(db_url) == [r["id"] for r in records(1)]
    assert len(api.requests) == 2 + 1 + 1


def endless(path: str, query: dict[str, str]) -> Answer:
    """Page after page of new records, without end."""
    return ok({"items": records(int(query["page"]))})


def test_a_stream_without_end_fails_at_the_page_limit(serve: Any, db_url: str) -> None:
    """New records on every page, never an empty one: at [source] page_limit pages the run fails naming
    the key, with the pages before it committed; it never stops silently."""
    api = serve(endless)
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], extra="page_limit = 25"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "page_limit = 25" in result.error, result.error
    assert len(api.requests) == 25
    assert len(landed(db_url)) == 25 * 3  # every page fetched is loaded; a rerun resumes after them
    assert run_status(db_url) == "failed"


def test_max_pages_is_still_a_deliberate_cap(serve: Any, db_url: str) -> None:
    """max_pages (documented as a cap) stops the same endless stream quietly, and the run succeeds."""
    api = serve(endless)
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], extra="max_pages = 5"), db_url)
    assert result.outcome == "succeeded", result.error
    assert len(api.requests) == 5 and len(landed(db_url)) == 15


# --- repeats that differ by a nonce or an order; distinct pages that look alike ------------------


def id_v_rows(db_url: str) -> list[tuple[Any, ...]]:
    """The destination table's (id, v) rows, sorted (repeats kept)."""
    with psycopg.connect(db_url) as conn:
        return sorted(conn.execute("SELECT id, v FROM items").fetchall())


def test_cursors_that_cycle_with_a_fresh_cursor_each_time_fail_at_the_first_repeat(
    serve: Any, db_url: str
) -> None:
    """Pages A and B alternate under cursors that never repeat ("A:1", "B:2", "A:3", ...): the third
    page's records are the first's, so it fails there and the append table holds each record once."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page, n = query.get("cursor", "A:0").split(":")
        items = (
            [{"id": 1, "v": "a"}, {"id": 2, "v": "a"}]
            if page == "A"
            else [{"id": 3, "v": "b"}, {"id": 4, "v": "b"}]
        )
        return ok({"items": items, "next": f"{'B' if page == 'A' else 'A'}:{int(n) + 1}"})

    api = serve(answer)
    result = run(job(f"{api.url}/items", '{ kind = "cursor", path = "next" }', write="append"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "same records as page 1" in result.error, result.error
    assert "cursor 'A:2'" in result.error, result.error
    assert landed(db_url) == [1, 2, 3, 4]
    assert len(api.requests) == 3


@pytest.mark.parametrize("concurrency", [1, 8])
def test_an_offset_api_that_shuffles_the_same_records_fails_at_the_second_page(
    concurrency: int, serve: Any, db_url: str
) -> None:
    """An offset API that ignores ``offset`` and sends the same ten records in a new order, under a
    new request id, every time: the second page is a repeat; the table holds the ten records once."""
    import random
    import uuid

    def answer(path: str, query: dict[str, str]) -> Answer:
        items = [{"id": i} for i in range(1, 11)]
        random.shuffle(items)
        return ok({"request_id": str(uuid.uuid4()), "items": items})

    api = serve(answer)
    pages = '{ kind = "offset", param = "offset", limit_param = "limit", limit = 10 }'
    result = run(job(f"{api.url}/items", pages, extra=f"concurrency = {concurrency}", write="append"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and "same records as the page before it (page 1" in result.error, (
        result.error
    )
    assert landed(db_url) == list(range(1, 11))
    assert len(api.requests) <= 2 + 2 * concurrency


A_VIEW = {"e": "view", "path": "/"}
A_CLICK = {"e": "click", "path": "/"}


def test_id_less_events_that_differ_anywhere_are_new_pages(serve: Any, db_url: str) -> None:
    """Events with no id: page 2 = [A, X, A, X, A, X, A, A] after page 1 = [A] * 8 holds other records
    (same count, same first, middle and last): both land, all sixteen rows."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = int(query["page"])
        pages = {1: [A_VIEW] * 8, 2: [A_VIEW, A_CLICK] * 3 + [A_VIEW, A_VIEW]}
        return ok({"items": pages.get(page, [])})

    api = serve(answer)
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], write="append"), db_url)
    assert result.outcome == "succeeded", result.error
    with psycopg.connect(db_url) as conn:
        counts = dict(conn.execute("SELECT e, count(*) FROM items GROUP BY e").fetchall())
    assert counts == {"view": 13, "click": 3}
    assert len(api.requests) == 3


def test_large_pages_alike_at_both_ends_are_new_pages(serve: Any, db_url: str) -> None:
    """One document a page, {"head": "H" * 5000, "id": "docNNN", "tail": "T" * 5000}: the bodies have
    one length and the same first and last 4 KiB, yet differ: every document lands."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = int(query["page"])
        items = [{"head": "H" * 5000, "id": f"doc{page:03d}", "tail": "T" * 5000}] if page <= 3 else []
        return ok({"items": items})

    api = serve(answer)
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"]), db_url)
    assert result.outcome == "succeeded", result.error
    with psycopg.connect(db_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]
    assert ids == ["doc001", "doc002", "doc003"]
    assert len(api.requests) == 4


def test_a_change_feed_that_repeats_ids_with_new_values_is_no_loop(serve: Any, db_url: str) -> None:
    """Page 2 holds page 1's ids and values, crossed ({1: b, 2: a} after {1: a, 2: b}): other
    records, so both pages land (a fingerprint per column would call them the same)."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        page = int(query["page"])
        pages = {1: [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], 2: [{"id": 1, "v": "b"}, {"id": 2, "v": "a"}]}
        return ok({"items": pages.get(page, [])})

    api = serve(answer)
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], write="append"), db_url)
    assert result.outcome == "succeeded", result.error
    assert id_v_rows(db_url) == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]


def test_identical_pages_of_identical_records_fail_naming_the_opt_out(serve: Any, db_url: str) -> None:
    """[A] * 8 twice is a repeat, and the error names [source] repeated_pages; a rerun with
    repeated_pages = "allow" resumes and lands the second page too (cursor cycles and page_limit
    still bound such a run)."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        return ok({"items": [A_VIEW] * 8 if int(query["page"]) <= 2 else []})

    api = serve(answer)
    result = run(job(f"{api.url}/items", PAGINATIONS["page_number"], write="append"), db_url)
    assert result.outcome == "failed"
    assert result.error is not None and 'repeated_pages = "allow"' in result.error, result.error
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (8,)
    allowed = job(
        f"{api.url}/items", PAGINATIONS["page_number"], write="append", extra='repeated_pages = "allow"'
    )
    result = run(allowed, db_url)
    assert result.outcome == "succeeded", result.error
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (16,)
