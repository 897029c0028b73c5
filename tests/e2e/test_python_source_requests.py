"""A Python source through the CLI: its requests through ``ctx.client`` are counted like a REST source's."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import run_cli
from support.fakeapi import FakeAPI, make_records


def test_requests_through_ctx_client_are_counted_in_the_run_line_and_metrics(
    tmp_path: Path, db_url: str
) -> None:
    """Three pages fetched by the function: HttpRequests and the run line's requests say 3, as the API saw."""
    api = FakeAPI(records_for=lambda d, p: make_records(d, p, 25), page_size=10).start()
    (tmp_path / "pyjobs.py").write_text(
        "def fetch(ctx):\n"
        "    for page in (1, 2, 3):\n"
        f"        body = ctx.client.get('{api.url}/page_number/' + str(ctx.date) + '/p', params={{'page': page}})\n"
        "        yield from body.json()['data']['items']\n"
    )
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        '[job]\nname = "py"\n[source]\nkind = "python"\nfunction = "pyjobs:fetch"\n'
        '[destination]\ntable = "py"\nprimary_key = ["id"]\n'
    )
    try:
        done = run_cli("run", "-c", str(config), "--date", "2026-11-01", "--database-url", db_url)
    finally:
        api.stop()
    assert done.returncode == 0, done.stderr
    assert len(api.requests) == 3
    (emf,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"_aws"')]
    assert emf["HttpRequests"] == 3 and emf["RowsWritten"] == 25
    finished = [json.loads(line) for line in done.stderr.splitlines() if '"run.finished"' in line]
    assert finished[-1]["requests"] == 3
