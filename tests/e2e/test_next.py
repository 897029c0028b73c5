"""The installed `dailyfetch next` (and the scheduling commands' usage errors) in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import run_cli
from support.configs import make_config


def test_next_json_prints_iso_times_with_offsets_across_dst() -> None:
    """`next --json` lists N fire times as ISO 8601 with their UTC offset; 01:00 fires once on fall-back day."""
    done = run_cli(
        "next", "--expression", "cron(0 1 * * ? *)", "--timezone", "America/New_York",
        "--after", "2026-10-31T00:00", "-n", "3", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "2026-10-31T01:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-02T01:00:00-05:00",
    ]


def test_next_skips_a_time_that_does_not_exist_on_spring_forward_day() -> None:
    """02:30 in New York does not exist on 2026-03-08, so that day has no fire (AWS's rule)."""
    done = run_cli(
        "next", "-e", "cron(30 2 * * ? *)", "--tz", "America/New_York", "--after", "2026-03-07T12:00", "-n", "2",
        "--json",
    )  # fmt: skip
    assert json.loads(done.stdout) == ["2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]


def test_next_from_a_config_names_the_logical_date_each_fire_runs(tmp_path: Path) -> None:
    """From a config, each line shows the fire time in the schedule's zone and the date it fetches."""
    config = tmp_path / "dailyfetch.toml"
    text = make_config("http://127.0.0.1:9").replace("[job]\n", '[job]\nlogical_date = "today"\n')
    config.write_text(text + '[schedule]\nexpression = "cron(0 1 ? * MON *)"\ntimezone = "Asia/Tokyo"\n')
    done = run_cli("next", "-c", str(config), "--after", "2026-11-28T00:00:00Z", "-n", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "cron(0 1 ? * MON *): at 01:00 on Monday (Asia/Tokyo)",
        "2026-11-30T01:00:00+09:00  Mon  fetches 2026-11-30",
        "2026-12-07T01:00:00+09:00  Mon  fetches 2026-12-07",
    ]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["-e", "cron(61 2 * * ? *)"], "minute: 61 is out of range 0-59"),
        (["-e", "rate(1 hours)"], "rate: 1 takes the unit 'hour'"),
        (
            ["-e", "cron(0 2 * * ? *)", "--tz", "Mars/Olympus"],
            "timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (["-e", "cron(0 2 * * ? *)", "--after", "yesterday"], "--after: 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_next_errors_name_the_field_and_exit_2(args: list[str], names: str) -> None:
    """A bad expression, zone or --after exits 2 with one `Error:` line naming the field and the problem."""
    done = run_cli("next", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and names in lines[0], done.stderr


def test_backfill_with_end_before_start_is_a_usage_error(tmp_path: Path) -> None:
    """`backfill --start` after `--end` exits 2 and says which way round they go."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config("http://127.0.0.1:9"))
    done = run_cli("backfill", "-c", str(config), "--start", "2026-11-05", "--end", "2026-11-01")
    assert done.returncode == 2
    assert done.stderr.strip() == "Error: --end: 2026-11-01 is before --start 2026-11-05 (swap them)"


def test_scheduling_commands_have_help_with_an_example() -> None:
    """`next`, `schedule` and `backfill` are listed and each one's help ends with an example."""
    listed = run_cli("--help").stdout
    for command in ("next", "schedule", "backfill"):
        assert command in listed
        helped = run_cli(command, "--help")
        assert helped.returncode == 0 and f"Example: dailyfetch {command}" in helped.stdout
