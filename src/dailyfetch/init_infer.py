"""What ``dailyfetch init`` guesses from one sample page: pure functions, no network.

Each ``infer_*`` function looks at the sample (the JSON body, its records, the
request's query parameters) and returns its guess with the reason, as one
:class:`Guess` line that ``init`` prints and writes into the file, so the user
can judge every guess. The request side (dates to template, secrets to move to
the environment) is :mod:`dailyfetch.init_request`; the file itself is
:mod:`dailyfetch.init_write`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
Setting = str | int

_MAX_DEPTH = 6
_PREFERRED_LISTS = ("data", "items", "results", "records", "entries", "features", "value")
# Keys whose value is the next page's URL (compared lower-case, without "_" and "-").
_NEXT_URL_KEYS = frozenset(
    {"next", "nexturl", "nextlink", "nextpage", "nextpageurl", "nexthref", "@odata.nextlink"}
)
_LINK_CONTAINERS = frozenset(
    {"links", "paging", "pagination", "meta", "metadata", "pageinfo", "responsemetadata"}
)
# Body key of the next cursor -> the query parameter it is usually sent back in.
_CURSOR_KEYS = {
    "nextcursor": "cursor", "cursor": "cursor", "nextpagetoken": "page_token", "nexttoken": "next_token",
    "continuationtoken": "continuation_token", "continuation": "continuation", "after": "after",
    "scrollid": "scroll_id",
}  # fmt: skip
_STRONG_CURSOR_KEYS = frozenset({"nextcursor", "nextpagetoken", "nexttoken", "continuationtoken"})
_CURSOR_PARAMS = frozenset({"cursor", "page_token", "pagetoken", "after", "next_token", "continuation"})
_PAGE_PARAMS = ("page", "page_number", "pagenumber", "pagenum")
_OFFSET_PARAMS = ("offset", "skip", "$skip", "start")
_LIMIT_PARAMS = ("limit", "$top", "top", "per_page", "page_size", "pagesize", "count", "size", "max", "rows")
_BODY_PAGE_KEYS = ("page", "current_page", "currentPage", "page_number", "pageNumber")
_BODY_TOTAL_KEYS = ("total_pages", "totalPages", "last_page", "lastPage", "page_count", "pageCount", "pages")
_ROUND_PAGE_SIZES = frozenset({10, 20, 25, 30, 50, 100, 200, 250, 500, 1000})


@dataclass(frozen=True)
class Guess:
    """One guess and its reason, printed as ``topic: text``."""

    topic: str
    text: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.text}"


@dataclass(frozen=True)
class RecordsGuess:
    """Where the records are (``path`` ``None``: the body itself) and the sample's records."""

    path: str | None
    records: list[Record]
    guess: Guess


def find_records(body: Any) -> RecordsGuess | None:
    """The largest list of objects in ``body`` (ties: the shallower); ``None`` if there is none."""
    found: list[tuple[str, list[Any]]] = []
    _collect_lists(body, "", 0, found)
    full = [(path, items) for path, items in found if items]
    if full:
        path, items = max(full, key=lambda c: (len(c[1]), -c[0].count("."), -len(c[0])))
        where = f"'{path}'" if path else "the body itself"
        others = f"; {len(full) - 1} smaller list(s) ignored" if len(full) > 1 else ""
        why = f"{where} is the largest list of objects ({len(items)} in the sample{others})"
        return RecordsGuess(path or None, list(items), Guess("records", why))
    if found:
        path = min((p for p, _ in found), key=lambda p: (p.split(".")[-1] not in _PREFERRED_LISTS, len(p)))
        where = f"'{path}'" if path else "the body itself"
        why = f"{where} is an empty list: the sample has no records, so columns and key are not guessed"
        return RecordsGuess(path or None, [], Guess("records", why))
    if isinstance(body, dict):
        why = "the body is one object with no list in it: each request loads it as one row"
        return RecordsGuess(None, [body], Guess("records", why))
    return None


def _collect_lists(node: Any, path: str, depth: int, out: list[tuple[str, list[Any]]]) -> None:
    if isinstance(node, list):
        if all(isinstance(item, dict) for item in node):
            out.append((path, node))
        return
    if not isinstance(node, dict) or depth >= _MAX_DEPTH:
        return
    for key, value in node.items():
        if isinstance(key, str) and "." not in key and key:
            _collect_lists(value, f"{path}.{key}" if path else key, depth + 1, out)


@dataclass(frozen=True)
class PaginationGuess:
    """The ``pagination`` inline table (``kind`` first) and the query parameters it sends itself."""

    settings: dict[str, Setting]
    guess: Guess
    drop_params: frozenset[str] = frozenset()
    warning: str | None = None


def _paging(
    settings: dict[str, Setting], why: str, drop: Any = (), warning: str | None = None
) -> PaginationGuess:
    return PaginationGuess(
        settings, Guess("pagination", f"{settings['kind']}: {why}"), frozenset(drop), warning
    )


def infer_pagination(
    body: Any, records: RecordsGuess, params: dict[str, str], *, link_next: str | None = None
) -> PaginationGuess:
    """How to ask for the next page, from the Link header, the body, then the query parameters."""
    if link_next:
        return _paging(
            {"kind": "link_header"}, 'the response has a Link header with rel="next" (GitHub style)'
        )
    for guess in (
        _next_url(body),
        _cursor(body, params),
        _last_record_cursor(body, records, params),
        _from_params(params),
        _from_body_counters(body),
    ):
        if guess is not None:
            return guess
    why = "no next link, cursor, has_more, or page/offset parameter found: one request per run"
    warning = None
    sizes = {int(v) for k, v in params.items() if k.lower() in _LIMIT_PARAMS and v.isdigit()}
    count = len(records.records)
    if count and (count in sizes or count in _ROUND_PAGE_SIZES):
        warning = (
            f"the sample has exactly {count} records, which looks like a page size: if the API pages, "
            "set [source].pagination (see docs/configuration.md)"
        )
    return _paging({"kind": "none"}, why, warning=warning)


def _squash(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _containers(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """The body and its small metadata objects (``links``, ``meta``, ...), with their paths."""
    if not isinstance(body, dict):
        return []
    found: list[tuple[str, dict[str, Any]]] = [("", body)]
    for key, value in body.items():
        if isinstance(value, dict) and _squash(key) in _LINK_CONTAINERS:
            found.append((key, value))
            found += [(f"{key}.{k}", v) for k, v in value.items() if isinstance(v, dict) and "." not in k]
    return found


def _looks_like_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "/", "?"))


def _next_url(body: Any) -> PaginationGuess | None:
    for prefix, container in _containers(body):
        for key, value in container.items():
            squashed = _squash(key)
            target = value
            if isinstance(value, dict) and squashed == "next" and "href" in value:  # HAL: _links.next.href
                key, target = f"{key}.href", value["href"]
            elif squashed not in _NEXT_URL_KEYS:
                continue
            urlish = any(word in squashed for word in ("url", "link", "href")) or prefix != ""
            if not (_looks_like_url(target) or (target is None and urlish)):
                continue
            path = f"{prefix}.{key}" if prefix else key
            if "." in key and not key.endswith(".href"):  # OData's "@odata.nextLink"
                why = f"'{key}' holds the next URL, but a path cannot name a key containing '.'"
                return _paging({"kind": "none"}, why, warning=f"only the first page will be fetched ({why})")
            state = "a URL" if target else "null (the last page)"
            return _paging(
                {"kind": "next_url", "path": path}, f"'{path}' is {state}: each page names the next one"
            )
    return None


def _cursor(body: Any, params: dict[str, str]) -> PaginationGuess | None:
    for prefix, container in _containers(body):
        for key, value in container.items():
            squashed = _squash(key)
            if (
                squashed not in _CURSOR_KEYS
                or isinstance(value, bool)
                or (squashed == "after" and not prefix)
            ):
                continue  # a bare top-level "after" is too often a date filter
            present = isinstance(value, str | int) and value != ""
            if not present and not (value is None and squashed in _STRONG_CURSOR_KEYS):
                continue
            path = f"{prefix}.{key}" if prefix else key
            given = [p for p in params if _squash(p) in {_squash(c) for c in _CURSOR_PARAMS}]
            param = given[0] if given else _CURSOR_KEYS[squashed]
            if squashed == "nextpagetoken" and not given and any(c.isupper() for c in key):
                param = "pageToken"
            origin = "the request's parameter" if given else "a common name: check the API's docs"
            why = f"'{path}' holds the next cursor, sent back as '{param}' ({origin})"
            return _paging({"kind": "cursor", "param": param, "path": path}, why, given)
    return None


def _last_record_cursor(body: Any, records: RecordsGuess, params: dict[str, str]) -> PaginationGuess | None:
    if not isinstance(body, dict) or not records.records:
        return None
    flag = next((k for k in ("has_more", "hasMore") if isinstance(body.get(k), bool)), None)
    if flag is None or not all(isinstance(r.get("id"), str | int) for r in records.records):
        return None
    settings: dict[str, Setting] = {
        "kind": "cursor", "param": "starting_after", "from_last_record": "id", "has_more": flag,
    }  # fmt: skip
    why = f"'{flag}' and records with an 'id' (Stripe style): sends starting_after = the last id until '{flag}' is false"
    return _paging(settings, why, [p for p in params if p in ("starting_after", "ending_before")])


def _int_param(params: dict[str, str], names: tuple[str, ...]) -> tuple[str, int] | None:
    for key, value in params.items():
        if key.lower() in names and value.strip().isdigit():
            return key, int(value)
    return None


def _from_params(params: dict[str, str]) -> PaginationGuess | None:
    page = _int_param(params, _PAGE_PARAMS)
    if page is not None:
        name, value = page
        why = f"the request has '{name}={value}'; stops at the first page with no records"
        return _paging(
            {"kind": "page_number", "param": name, "start": value if value in (0, 1) else 1}, why, [name]
        )
    offset, limit = _int_param(params, _OFFSET_PARAMS), _int_param(params, _LIMIT_PARAMS)
    if offset is None or (offset[0].lower() == "start" and limit is None):
        return None
    name, value = offset
    limit = limit if limit is not None and limit[1] >= 1 else ("limit", 100)
    start = value if value in (0, 1) else 0
    based = " (1-based)" if start == 1 else ""
    why = (
        f"the request has '{name}={value}'{based} and '{limit[0]}={limit[1]}'; stops at the first empty page"
    )
    settings: dict[str, Setting] = {"kind": "offset", "param": name, "limit_param": limit[0]}
    return _paging({**settings, "limit": limit[1], "start": start}, why, [name, limit[0]])


def _from_body_counters(body: Any) -> PaginationGuess | None:
    for prefix, container in _containers(body):
        page_key = next((k for k in _BODY_PAGE_KEYS if _is_int(container.get(k))), None)
        if page_key is None:
            continue
        total_key = next((k for k in _BODY_TOTAL_KEYS if _is_int(container.get(k))), None)
        where = f"{prefix}.{page_key}" if prefix else page_key
        param = page_key if page_key in ("page_number", "pageNumber") else "page"
        start = container[page_key] if container[page_key] in (0, 1) else 1
        of = f" of {container[total_key]} ('{total_key}')" if total_key else ""
        why = f"the body says '{where}' = {container[page_key]}{of}; sends ?{param}=N, stops at the first empty page"
        return _paging({"kind": "page_number", "param": param, "start": start}, why, [param])
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
