"""`dailyfetch init` against local servers shaped like real APIs, then `dailyfetch run` on what it wrote."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.cli import run_cli
from support.shaped_apis import GitHubIssues, ProductsEnvelope, StripeCharges
from support.usgs import QUERY_PATH, USGSReplay

DAY = "2026-11-27"
TOKEN = "ghp_s3cr3tT0k3nValue9f8e7d"


def run_init(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`dailyfetch init ARGS` in a subprocess."""
    return run_cli("init", *args, env=env)


def table_ids(db_url: str, table: str, key: str) -> list[Any]:
    """The key column of public.<table>, sorted."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(f'SELECT "{key}" FROM public."{table}" ORDER BY 1').fetchall()  # noqa: S608
    return [row[0] for row in rows]


def init_then_run(
    tmp_path: Path, db_url: str, url: str, *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run init, assert it succeeded, run the written config for DAY, and return the parsed file."""
    config = tmp_path / "cfg.toml"
    made = run_init(url, *extra, "-o", str(config), "--database-url", db_url)
    assert made.returncode == 0, made.stderr
    assert "config: ok" in made.stdout and "nothing was sent." in made.stdout
    ran = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url, env=env)
    assert ran.returncode == 0, ran.stderr
    return tomllib.loads(config.read_text())


@pytest.fixture
def github() -> Iterator[GitHubIssues]:
    """A GitHub-shaped issues API that wants a bearer token."""
    server = GitHubIssues(token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stripe() -> Iterator[StripeCharges]:
    """A Stripe-shaped charges API that wants a bearer token."""
    server = StripeCharges(token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def products() -> Iterator[ProductsEnvelope]:
    """A page-number envelope API."""
    server = ProductsEnvelope()
    server.start()
    yield server
    server.stop()


def test_github_link_header_list_lands_every_issue(github: GitHubIssues, db_url: str, tmp_path: Path) -> None:
    """A bare array with a Link header becomes link_header paging that lands all 23 issues once."""
    url = f"{github.url}/repos/acme/widgets/issues?per_page=10&page=1"
    cfg = init_then_run(
        tmp_path, db_url, url, "-H", f"Authorization: Bearer {TOKEN}", env={"API_TOKEN": TOKEN}
    )
    assert cfg["source"]["pagination"] == {"kind": "link_header"}
    assert "records" not in cfg["source"] and cfg["destination"]["primary_key"] == ["id"]
    assert cfg["destination"]["columns"]["updated_at"] == "timestamptz"
    assert table_ids(db_url, "issues", "id") == sorted(i["id"] for i in github.issues)


def test_a_link_header_with_rel_in_another_case_is_link_header_paging(db_url: str, tmp_path: Path) -> None:
    """init reads `rel="Next"` as a next link (RFC 8288: relation types are case-insensitive)."""
    server = GitHubIssues(token=TOKEN, next_rel="Next")
    server.start()
    try:
        url = f"{server.url}/repos/acme/widgets/issues?per_page=10&page=1"
        cfg = init_then_run(
            tmp_path, db_url, url, "-H", f"Authorization: Bearer {TOKEN}", env={"API_TOKEN": TOKEN}
        )
    finally:
        server.stop()
    assert cfg["source"]["pagination"] == {"kind": "link_header"}
    assert table_ids(db_url, "issues", "id") == sorted(i["id"] for i in server.issues)


def test_stripe_list_pages_by_the_last_id(stripe: StripeCharges, db_url: str, tmp_path: Path) -> None:
    """Stripe's has_more envelope becomes cursor paging on the last id and lands all 25 charges once."""
    cfg = init_then_run(
        tmp_path, db_url, f"{stripe.url}/v1/charges", "-p", "limit=10",
        "-H", f"Authorization=Bearer {TOKEN}", env={"API_TOKEN": TOKEN},
    )  # fmt: skip
    assert cfg["source"]["records"] == "data"
    assert cfg["source"]["pagination"] == {
        "kind": "cursor", "param": "starting_after", "from_last_record": "id", "has_more": "has_more",
    }  # fmt: skip
    assert table_ids(db_url, "charges", "id") == sorted(c["id"] for c in stripe.charges)
    afters = [r["query"].get("starting_after") for r in stripe.requests]
    assert afters[:2] == [None, None] and len(afters) == 4  # init's sample, then 3 pages: none past the end


def test_usgs_geojson_offset_paging_with_templated_dates(db_url: str, tmp_path: Path) -> None:
    """USGS's 1-based offset/limit and yesterday's time window become offset paging and {start_utc}/{end_utc}."""
    usgs = USGSReplay(events_per_day=230).start()
    try:
        today = datetime.now(UTC).date()
        window = [f"starttime={today - timedelta(days=1)}T00:00:00", f"endtime={today}T00:00:00"]
        params = ["format=geojson", *window, "orderby=time-asc", "offset=1", "limit=100"]
        cfg = init_then_run(tmp_path, db_url, usgs.url + QUERY_PATH, *(a for p in params for a in ("-p", p)))
        events = usgs.day(date.fromisoformat(DAY))
    finally:
        usgs.stop()
    assert cfg["source"]["records"] == "features"
    assert cfg["source"]["pagination"] == {
        "kind": "offset", "param": "offset", "limit_param": "limit", "limit": 100, "start": 1,
    }  # fmt: skip
    assert cfg["source"]["params"]["starttime"] == "{start_utc:%Y-%m-%dT%H:%M:%S}"
    assert cfg["source"]["params"]["endtime"] == "{end_utc:%Y-%m-%dT%H:%M:%S}"
    assert table_ids(db_url, "event", "id") == sorted(e["id"] for e in events)


def test_page_number_envelope_lands_every_product(
    products: ProductsEnvelope, db_url: str, tmp_path: Path
) -> None:
    """`page` and `total_pages` in the body become page_number paging that lands all 27 products once."""
    cfg = init_then_run(tmp_path, db_url, f"{products.url}/api/v2/products")
    assert cfg["source"]["records"] == "data.items"
    assert cfg["source"]["pagination"] == {"kind": "page_number", "param": "page", "start": 1}
    assert cfg["destination"]["primary_key"] == ["product_id"]
    assert cfg["destination"]["columns"] == {
        "price": "double precision", "released_on": "date", "updated": "timestamptz",
    }  # fmt: skip
    assert table_ids(db_url, "products", "product_id") == [p["product_id"] for p in products.products]


def test_secrets_become_env_references_and_never_appear(
    github: GitHubIssues, db_url: str, tmp_path: Path
) -> None:
    """A bearer header and an api_key param are written as ${ENV}; the literals reach no file or stream."""
    api_key = "k3y-0f-th3-AP1-77aa55"
    config = tmp_path / "cfg.toml"
    url = f"{github.url}/repos/acme/widgets/issues?api_key={api_key}"
    made = run_init(url, "-H", f"Authorization: Bearer {TOKEN}", "-o", str(config), "--database-url", db_url)
    assert made.returncode == 0, made.stderr
    text = config.read_text()
    assert 'Authorization = "Bearer ${API_TOKEN}"' in text and 'api_key = "${API_KEY}"' in text
    for output in (text, made.stdout, made.stderr):
        assert TOKEN not in output and api_key not in output
    assert "API_TOKEN=..." in made.stdout and "API_KEY=..." in made.stdout


def test_existing_file_is_kept_without_force(tmp_path: Path, products: ProductsEnvelope) -> None:
    """An existing output file is an error (exit 2) unless --force, which overwrites it."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text("# mine\n")
    refused = run_init(f"{products.url}/api/v2/products", "-o", str(config))
    assert refused.returncode == 2 and config.read_text() == "# mine\n"
    assert refused.stderr.strip().splitlines() == [
        f"Error: {config}: already exists (pass --force to overwrite it, or -o another file)"
    ]
    assert products.requests == []


def test_http_error_is_one_masked_line_exit_1(github: GitHubIssues, tmp_path: Path) -> None:
    """A 401 exits 1 with one line naming the URL, its secret query value masked, and writes nothing."""
    config = tmp_path / "cfg.toml"
    url = f"{github.url}/repos/acme/widgets/issues?access_token=not-the-right-one-123"
    failed = run_init(url, "-o", str(config))
    assert failed.returncode == 1 and not config.exists()
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: HTTP 401 Unauthorized from ")
    assert "access_token=***" in lines[0] and "not-the-right-one-123" not in failed.stderr


def test_malformed_param_exits_2_without_echoing_it(tmp_path: Path) -> None:
    """A --param without '=' is a usage error (exit 2) that does not echo the value."""
    failed = run_init("http://127.0.0.1:9/items", "-p", "sekrit-value-only", "-o", str(tmp_path / "c.toml"))
    assert failed.returncode == 2
    assert (
        failed.stderr.strip()
        == "Error: --param #1: expected NAME=VALUE or 'Name: value' (e.g. --param per_page=100)"
    )
