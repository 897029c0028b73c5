"""Unit tests for `dailyfetch init`'s guesses on JSON samples, and the file it writes (no network)."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from dailyfetch.config_file import parse_config
from dailyfetch.errors import ConfigError
from dailyfetch.init_fields import infer_columns, infer_incremental, infer_primary_key
from dailyfetch.init_infer import RecordsGuess, find_records, infer_pagination
from dailyfetch.init_request import escape_braces, name_job, parse_pairs, prepare_request
from dailyfetch.init_write import toml_value, write_config_from_sample
from dailyfetch.redact import REGISTRY

TODAY = date(2026, 11, 28)
ITEMS = [{"id": i, "name": f"n{i}"} for i in range(3)]


def paging(body: Any, params: dict[str, str] | None = None, link_next: str | None = None) -> dict[str, Any]:
    """The pagination settings guessed for ``body``."""
    found = find_records(body)
    assert found is not None
    return infer_pagination(body, found, params or {}, link_next=link_next).settings


# ---------------------------------------------------------------- records


def test_records_bare_list_is_the_body() -> None:
    """A body that is a list of objects has no records path."""
    found = find_records(ITEMS)
    assert found is not None and found.path is None and found.records == ITEMS


def test_records_largest_list_of_objects_wins() -> None:
    """The largest list of objects is chosen over smaller ones and over lists of scalars."""
    body = {
        "bbox": [1, 2, 3, 4, 5, 6, 7],
        "meta": {"warnings": [{"w": 1}]},
        "data": {"items": ITEMS},
    }
    found = find_records(body)
    assert found is not None and found.path == "data.items" and len(found.records) == 3


def test_records_geojson_features() -> None:
    """A GeoJSON FeatureCollection's records are its features, not its bbox."""
    body = {"type": "FeatureCollection", "metadata": {"count": 2}, "features": ITEMS[:2], "bbox": [0, 0]}
    found = find_records(body)
    assert found is not None and found.path == "features"


def test_records_empty_list_and_single_object_and_scalar() -> None:
    """An empty list is still the path; an object without lists is one record; a scalar has none."""
    empty = find_records({"total": 0, "results": []})
    assert empty is not None and empty.path == "results" and empty.records == []
    single = find_records({"id": 1, "name": "x"})
    assert single is not None and single.path is None and single.records == [{"id": 1, "name": "x"}]
    assert find_records("hello") is None


# ---------------------------------------------------------------- pagination


def test_link_header_wins() -> None:
    """A Link rel=next header means link_header, even when the URL has page parameters."""
    assert paging(ITEMS, {"page": "1", "per_page": "3"}, link_next="https://x/items?page=2") == {
        "kind": "link_header"
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"links": {"next": "https://api.test/items?after=3"}, "data": ITEMS}, "links.next"),
        ({"count": 9, "next": "https://api.test/items?page=2", "previous": None, "results": ITEMS}, "next"),
        ({"_links": {"next": {"href": "/items?page=2"}}, "items": ITEMS}, "_links.next.href"),
        ({"next_page_url": None, "data": ITEMS}, "next_page_url"),
    ],
)
def test_next_url_in_the_body(body: dict[str, Any], path: str) -> None:
    """A next-page URL in the body (JSON:API, DRF, HAL, Laravel) becomes next_url at its path."""
    assert paging(body) == {"kind": "next_url", "path": path}


def test_odata_next_link_cannot_be_followed_and_says_so() -> None:
    """OData's '@odata.nextLink' key holds a '.', which a path cannot name: none, with a warning."""
    body = {"@odata.nextLink": "https://x/items?$skip=3", "value": ITEMS}
    found = find_records(body)
    assert found is not None
    guess = infer_pagination(body, found, {})
    assert guess.settings == {"kind": "none"} and guess.warning and "@odata.nextLink" in guess.warning


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ({"items": ITEMS, "next_cursor": "abc"}, {}, {"param": "cursor", "path": "next_cursor"}),
        ({"items": ITEMS, "nextPageToken": "t1"}, {}, {"param": "pageToken", "path": "nextPageToken"}),
        (
            {"messages": ITEMS, "response_metadata": {"next_cursor": "dXNlcjpVMEc5V0ZYTlo="}},
            {"cursor": ""},
            {"param": "cursor", "path": "response_metadata.next_cursor"},
        ),
        (
            {"data": ITEMS, "paging": {"cursors": {"after": "QVFI"}}},
            {},
            {"param": "after", "path": "paging.cursors.after"},
        ),
    ],
)
def test_cursor_in_the_body(body: dict[str, Any], params: dict[str, str], expected: dict[str, str]) -> None:
    """A next cursor in the body (plain, Google, Slack, Facebook) becomes cursor paging at its path."""
    assert paging(body, params) == {"kind": "cursor", **expected}


def test_stripe_has_more_pages_by_the_last_id() -> None:
    """Stripe's has_more with records carrying an id sends starting_after = the last record's id."""
    body = {
        "object": "list",
        "data": [{"id": "ch_1"}, {"id": "ch_2"}],
        "has_more": True,
        "url": "/v1/charges",
    }
    found = find_records(body)
    assert found is not None
    guess = infer_pagination(body, found, {"limit": "2", "starting_after": "ch_0"})
    assert guess.settings == {
        "kind": "cursor", "param": "starting_after", "from_last_record": "id", "has_more": "has_more",
    }  # fmt: skip
    assert guess.drop_params == {"starting_after"}


def test_page_and_offset_parameters() -> None:
    """page= gives page_number; a 1-based offset= with limit= gives offset starting at 1."""
    assert paging(ITEMS, {"page": "1", "per_page": "3"}) == {
        "kind": "page_number",
        "param": "page",
        "start": 1,
    }
    usgs = {"features": ITEMS}
    assert paging(usgs, {"format": "geojson", "offset": "1", "limit": "500"}) == {
        "kind": "offset", "param": "offset", "limit_param": "limit", "limit": 500, "start": 1,
    }  # fmt: skip


def test_page_counters_in_the_body() -> None:
    """'page' and 'total_pages' in the body give page_number paging even with no page parameter."""
    body = {"data": {"items": ITEMS}, "page": 1, "total_pages": 4}
    assert paging(body) == {"kind": "page_number", "param": "page", "start": 1}


def test_no_paging_warns_when_the_count_looks_like_a_page_size() -> None:
    """No hint at all gives none, with a warning when the sample size equals the limit."""
    records = [{"id": i} for i in range(7)]
    found = find_records(records)
    assert found is not None
    guess = infer_pagination(records, found, {"limit": "7"})
    assert guess.settings == {"kind": "none"} and guess.warning and "exactly 7 records" in guess.warning
    assert infer_pagination(ITEMS, RecordsGuess(None, ITEMS, guess.guess), {}).warning is None


# ---------------------------------------------------------------- primary key


def test_primary_key_prefers_a_unique_id() -> None:
    """'id' is the key when it is present and unique; a duplicated one is skipped for a unique *_id."""
    assert infer_primary_key(ITEMS)[0] == "id"
    records = [{"id": 1, "order_id": "a", "customer_id": 5}, {"id": 1, "order_id": "b", "customer_id": 5}]
    assert infer_primary_key(records, "orders")[0] == "order_id"


def test_primary_key_resource_id_and_none() -> None:
    """'<resource>_id' beats other *_id fields; with no unique id-like field there is no key."""
    records = [{"category_id": 1, "product_id": 10}, {"category_id": 2, "product_id": 11}]
    assert infer_primary_key(records, "products")[0] == "product_id"
    key, guess = infer_primary_key([{"name": "a", "flag": True}, {"name": "a", "flag": False}])
    assert key is None and "appended" in guess.text


# ---------------------------------------------------------------- columns


def test_columns_declare_ambiguous_types() -> None:
    """Zoned timestamps, zone-less ones, dates and mixed numbers are declared; epoch ms get a note."""
    records = [
        {"at": "2026-11-27T10:00:00Z", "local": "2026-11-27 10:00:00", "day": "2026-11-27",
         "price": 12, "time": 1_764_201_600_000, "gone": None, "n": 1},
        {"at": "2026-11-27T11:00:00.5+09:00", "local": "2026-11-27 11:00", "day": "2026-02-28",
         "price": 12.5, "time": 1_764_201_700_000, "gone": None, "n": 2},
    ]  # fmt: skip
    columns = {c.name: c for c in infer_columns(records)}
    assert {n: c.declared for n, c in columns.items() if c.declared} == {
        "at": "timestamptz", "local": "timestamp", "day": "date", "price": "double precision",
    }  # fmt: skip
    assert columns["time"].inferred == "bigint" and "epoch milliseconds" in columns["time"].note
    assert columns["gone"].inferred is None and "only nulls" in columns["gone"].note
    assert columns["n"].declared is None and columns["n"].note == ""


def test_columns_invalid_date_stays_text() -> None:
    """A string shaped like a date that is not one is not declared as date."""
    assert infer_columns([{"d": "2026-02-30"}])[0].declared is None


# ---------------------------------------------------------------- incremental


def test_incremental_prefers_a_modification_time() -> None:
    """updated_at wins over created_at; its oldest sample value is the initial cursor."""
    records = [
        {"id": 1, "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-27T08:00:00Z"},
        {"id": 2, "created_at": "2026-11-02T00:00:00Z", "updated_at": "2026-11-26T08:00:00Z"},
    ]
    guess = infer_incremental(records)
    assert guess is not None
    assert (guess.cursor, guess.param, guess.initial) == (
        "updated_at",
        "updated_since",
        "2026-11-26T08:00:00Z",
    )


def test_incremental_epoch_cursor_is_numeric_and_nested_fields_are_not_offered() -> None:
    """An epoch-ms cursor keeps numbers (lookback in ms); a nested time is not offered; no time, no guess."""
    records = [{"time": 1_764_201_900_000, "properties": {"updated": "2026-11-27T08:00:00Z"}},
               {"time": 1_764_201_600_000, "properties": {"updated": "2026-11-27T09:00:00Z"}}]  # fmt: skip
    guess = infer_incremental(records)
    assert guess is not None
    assert (guess.cursor, guess.param, guess.initial, guess.lookback) == (
        "time",
        "since",
        "1764201600000",
        "7200000",
    )
    assert infer_incremental([{"properties": {"updated": "2026-11-27T08:00:00Z"}}]) is None
    assert infer_incremental([{"id": 1, "name": "x"}]) is None


def test_incremental_block_validates_once_uncommented(tmp_path: Path) -> None:
    """Uncommenting the written [source.incremental] block gives a config that validates."""
    records = [
        {"id": 1, "updated_at": "2026-11-27T08:00:00+09:00"},
        {"id": 2, "updated_at": "2026-11-27T09:00:00Z"},
    ]
    out = tmp_path / "dailyfetch.toml"
    write_config_from_sample(
        "https://api.test/things", params=[], headers=[], output=out, client=_client(records)
    )
    text = out.read_text()
    block = text[text.index("# [source.incremental]") :].split("\n\n")[0]
    config = parse_config(
        text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines()))
    )
    assert config.source.incremental is not None
    assert (config.source.incremental.cursor, config.source.incremental.initial) == (
        "updated_at", "2026-11-27T08:00:00+09:00",
    )  # fmt: skip


# ---------------------------------------------------------------- request: dates, secrets, names


def test_dates_of_yesterday_become_run_variables() -> None:
    """Yesterday's and today's midnights in params and a date in the path become run variables."""
    req = prepare_request(
        "https://api.test/v1/2026-11-27/items?starttime=2026-11-27T00:00:00&endtime=2026-11-28T00:00:00Z",
        [
            ("day", "2026-11-27"),
            ("until", "2026-11-28"),
            ("since", "2020-01-01"),
            ("at", "2026-11-27T13:00:00"),
        ],
        [],
        today=TODAY,
    )
    assert req.url == "https://api.test/v1/{date}/items"
    assert req.params == {
        "starttime": "{start_utc:%Y-%m-%dT%H:%M:%S}", "endtime": "{end_utc:%Y-%m-%dT%H:%M:%SZ}",
        "day": "{date}", "until": "{end:%Y-%m-%d}", "since": "2020-01-01", "at": "2026-11-27T13:00:00",
    }  # fmt: skip
    assert req.logical_date == "yesterday"
    assert (
        prepare_request("https://api.test/x", [("d", "2026-11-28")], [], today=TODAY).logical_date == "today"
    )


def test_secrets_move_to_the_environment() -> None:
    """Bearer and API-key headers, token params and URL passwords become ${ENV}; values are registered."""
    req = prepare_request(
        "https://user:pa55word@api.github.com/repos/o/r/issues?access_token=tok-123456",
        [("per_page", "100")],
        [("Authorization", "Bearer ghp_abcdef123456"), ("X-Api-Key", "k-999999"), ("Accept", "text/json")],
    )
    assert req.url == "https://user:${GITHUB_PASSWORD}@api.github.com/repos/o/r/issues"
    assert req.params == {"access_token": "${GITHUB_ACCESS_TOKEN}", "per_page": "100"}
    assert req.headers == {
        "Authorization": "Bearer ${GITHUB_TOKEN}", "X-Api-Key": "${GITHUB_API_KEY}", "Accept": "text/json",
    }  # fmt: skip
    assert req.secret_env == {
        "GITHUB_PASSWORD": "pa55word", "GITHUB_ACCESS_TOKEN": "tok-123456",
        "GITHUB_TOKEN": "ghp_abcdef123456", "GITHUB_API_KEY": "k-999999",
    }  # fmt: skip
    assert req.sent_headers["Authorization"] == "Bearer ghp_abcdef123456"
    assert "ghp_abcdef123456" in REGISTRY and "k-999999" in REGISTRY


def test_env_references_given_by_the_user_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ${VAR} in --header is sent expanded and written as given; an unset one is a usage error."""
    monkeypatch.setenv("MY_TOKEN", "from-env-123")
    req = prepare_request("http://127.0.0.1:8000/items", [], [("Authorization", "Bearer ${MY_TOKEN}")])
    assert req.headers == {"Authorization": "Bearer ${MY_TOKEN}"} and req.env_names == ["MY_TOKEN"]
    assert req.sent_headers == {"Authorization": "Bearer from-env-123"} and req.secret_env == {}
    with pytest.raises(ConfigError, match="NOT_SET_AT_ALL is not set"):
        prepare_request("http://127.0.0.1:8000/items", [], [("X-Token", "${NOT_SET_AT_ALL}")])


def test_pairs_and_urls_are_validated_without_echoing_values() -> None:
    """k=v and 'Name: value' parse; a pair without a separator and a non-http URL are usage errors."""
    assert parse_pairs(["a=1=2", "Accept: application/json", "t=x:y"], "--header") == [
        ("a", "1=2"), ("Accept", "application/json"), ("t", "x:y"),
    ]  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_pairs(["secret-only"], "--param")
    assert "secret-only" not in str(caught.value)
    with pytest.raises(ConfigError, match="not an http"):
        prepare_request("ftp://example.com/x", [], [])


def test_names_braces_and_toml_literals() -> None:
    """Names come from the last meaningful path segment; braces are escaped; strings are TOML-safe."""
    assert name_job("https://api.github.com/repos/o/r/issues", None) == ("github-issues", "issues")
    assert name_job("http://127.0.0.1:1/fdsnws/event/1/query", "features") == ("event", "event")
    assert name_job("https://api.test/v2/", "data.items") == ("records", "records")
    assert escape_braces("a{b}${X}") == "a{{b}}${X}"
    awkward = 'q"\\ \x01\x7f 東京'
    assert tomllib.loads(f"v = {toml_value(awkward)}")["v"] == awkward


# ---------------------------------------------------------------- the written file


def _client(body: Any, headers: dict[str, str] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, headers=headers)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_written_file_is_valid_commented_and_secret_free(tmp_path: Path) -> None:
    """The file validates, keeps the incremental block commented, and holds no literal secret."""
    records = [
        {"id": f"o{i}", "updated_at": f"2026-11-2{i}T10:00:00Z", "total": 10.5, "created": 1_764_201_600}
        for i in range(1, 4)
    ]
    out = tmp_path / "dailyfetch.toml"
    result = write_config_from_sample(
        "https://api.shop.test/v1/orders?updated_since=2026-11-27",
        params=["api_key=live-key-0123456789"],
        headers=["Authorization: Bearer sk_live_abcdef"],
        output=out,
        today=TODAY,
        client=_client({"orders": records, "next_cursor": "c2"}),
    )
    text = out.read_text()
    assert "live-key-0123456789" not in text and "sk_live_abcdef" not in text
    assert '# [source.incremental]\n# cursor = "updated_at"\n' in text
    assert 'api_key = "${SHOP_API_KEY}"' in text and 'Authorization = "Bearer ${SHOP_TOKEN}"' in text
    config = parse_config(text, env=result.secret_env)
    assert config.source.params["updated_since"] == "{date}"
    assert config.source.pagination.kind == "cursor" and config.source.records == "orders"
    assert config.destination.primary_key == ["id"] and config.destination.table == "orders"
    assert config.destination.columns == {"updated_at": "timestamptz"}
    assert result.env_names == ["SHOP_API_KEY", "SHOP_TOKEN"]
    assert any(line.startswith("date: params.updated_since") for line in result.guesses)


def test_existing_file_is_refused_before_any_request(tmp_path: Path) -> None:
    """Without --force an existing file is a usage error and nothing is fetched."""
    out = tmp_path / "dailyfetch.toml"
    out.write_text("# keep\n")

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(ConfigError, match="already exists"):
        write_config_from_sample("https://api.test/x", params=[], headers=[], output=out, client=client)
    assert out.read_text() == "# keep\n"
