"""Unit tests for planning a run: partitions, the default logical date and run variables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from dailyfetch.config import Config
from dailyfetch.config_file import parse_config
from dailyfetch.errors import ConfigError
from dailyfetch.plan import (
    Partition,
    RunPlan,
    default_logical_date,
    parse_logical_date,
    plan_run,
    render,
)


def config(partitions: str = "", timezone: str = "UTC", logical_date: str = "yesterday") -> Config:
    """A minimal REST config with the given partitions, zone and logical date."""
    return parse_config(
        f"""
        [job]
        name = "j"
        logical_date = "{logical_date}"
        [schedule]
        timezone = "{timezone}"
        [source]
        kind = "rest"
        url = "https://api.test/items"
        [source.partitions]
        {partitions}
        [destination]
        table = "t"
        """,
        env={},
    )


def variables(day: date, timezone: str, **values: str) -> dict[str, Any]:
    """The run variables of one partition on ``day`` in ``timezone``."""
    plan = RunPlan(job="j", logical_date=day, partitions=(Partition(values),), timezone=timezone)
    return plan.variables(plan.partitions[0])


def test_unpartitioned_plan_has_one_partition() -> None:
    """Without [source.partitions] a run has one partition keyed '*'."""
    plan = plan_run(config(), date(2026, 3, 1))
    assert plan.job == "j"
    assert plan.logical_date == date(2026, 3, 1)
    assert plan.partitions == (Partition(),)
    assert plan.partitions[0].key == "*"
    assert plan.timezone == "UTC"


def test_partitions_are_the_cartesian_product() -> None:
    """Every combination of partition values is one partition, in config order."""
    plan = plan_run(config('region = ["eu", "us"]\nkind = ["a", "b", 3]'), date(2026, 3, 1))
    assert [p.key for p in plan.partitions] == [
        "region=eu,kind=a",
        "region=eu,kind=b",
        "region=eu,kind=3",
        "region=us,kind=a",
        "region=us,kind=b",
        "region=us,kind=3",
    ]
    assert plan.partitions[1].values == {"region": "eu", "kind": "b"}
    assert len({p.key for p in plan.partitions}) == 6


def test_partition_values_become_strings() -> None:
    """Integer partition values are run variables as strings."""
    plan = plan_run(config("shard = [1, 2]"), date(2026, 3, 1))
    assert [p.values for p in plan.partitions] == [{"shard": "1"}, {"shard": "2"}]
    assert render("/s/{shard}/{date}", plan.variables(plan.partitions[1])) == "/s/2/2026-03-01"


@pytest.mark.parametrize(
    ("logical_date", "timezone", "now", "expected"),
    [
        ("today", "UTC", "2026-03-01T23:30:00+00:00", date(2026, 3, 1)),
        ("yesterday", "UTC", "2026-03-01T23:30:00+00:00", date(2026, 2, 28)),
        ("today", "Asia/Tokyo", "2026-03-01T16:00:00+00:00", date(2026, 3, 2)),
        ("yesterday", "Asia/Tokyo", "2026-03-01T16:00:00+00:00", date(2026, 3, 1)),
        ("today", "America/New_York", "2026-03-02T03:00:00+00:00", date(2026, 3, 1)),
        ("yesterday", "America/New_York", "2026-01-01T04:59:00+00:00", date(2025, 12, 30)),
    ],
)
def test_default_logical_date_in_schedule_zone(
    logical_date: str, timezone: str, now: str, expected: date
) -> None:
    """Without --date the run covers today or yesterday in the schedule's time zone."""
    cfg = config(timezone=timezone, logical_date=logical_date)
    assert default_logical_date(cfg, now=datetime.fromisoformat(now)) == expected


def test_plan_run_uses_default_logical_date() -> None:
    """plan_run without a date plans the job's default logical date."""
    cfg = config(logical_date="today", timezone="Asia/Tokyo")
    before = default_logical_date(cfg)
    planned = plan_run(cfg).logical_date
    assert planned in {before, default_logical_date(cfg)}


def test_variables_on_an_ordinary_day() -> None:
    """{date}, {start} and {end} bound the day; bare instants print as ISO 8601."""
    values = variables(date(2026, 3, 1), "Asia/Tokyo", region="jp")
    assert values["date"] == "2026-03-01"
    assert values["region"] == "jp"
    assert render("{start}", values) == "2026-03-01T00:00:00+09:00"
    assert render("{end}", values) == "2026-03-02T00:00:00+09:00"
    assert render("{start_utc}", values) == "2026-02-28T15:00:00+00:00"
    assert render("{end_utc}", values) == "2026-03-01T15:00:00+00:00"
    assert str(values["start"]) == "2026-03-01T00:00:00+09:00"


def test_variables_on_a_23_hour_dst_day() -> None:
    """On 2026-03-08 in New York the day runs 05:00Z to 04:00Z next day: 23 hours."""
    values = variables(date(2026, 3, 8), "America/New_York")
    assert render("{start}|{end}", values) == "2026-03-08T00:00:00-05:00|2026-03-09T00:00:00-04:00"
    assert render("{start_utc}", values) == "2026-03-08T05:00:00+00:00"
    assert render("{end_utc}", values) == "2026-03-09T04:00:00+00:00"
    assert values["end"].timestamp() - values["start"].timestamp() == 23 * 3600
    assert (values["end_utc"] - values["start_utc"]).total_seconds() == 23 * 3600


def test_variables_on_a_25_hour_dst_day() -> None:
    """On 2026-11-01 in New York the day is 25 hours long."""
    values = variables(date(2026, 11, 1), "America/New_York")
    assert render("{start_utc}/{end_utc}", values) == ("2026-11-01T04:00:00+00:00/2026-11-02T05:00:00+00:00")
    assert values["end"].timestamp() - values["start"].timestamp() == 25 * 3600


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{start:%Y-%m-%dT%H:%M:%S}", "2026-03-08T00:00:00"),
        ("{end:%Y-%m-%d %H:%M%z}", "2026-03-09 00:00-0400"),
        ("{start_utc:%Y-%m-%dT%H:%M:%SZ}", "2026-03-08T05:00:00Z"),
        ("{date}", "2026-03-08"),
        ("{{date}}={date}", "{date}=2026-03-08"),
    ],
)
def test_format_specs(template: str, expected: str) -> None:
    """Instants take strftime format specs; doubled braces are literal."""
    assert render(template, variables(date(2026, 3, 8), "America/New_York")) == expected


def test_partition_key_with_one_value() -> None:
    """A single partition field gives a key of one name=value pair."""
    assert Partition({"region": "eu"}).key == "region=eu"


@pytest.mark.parametrize("text", ["2026-02-30", "yesterday", "2026/03/01", "", "20260301x"])
def test_parse_logical_date_errors(text: str) -> None:
    """A --date that is not a YYYY-MM-DD date is a ConfigError naming the option and value."""
    with pytest.raises(ConfigError) as info:
        parse_logical_date(text)
    assert str(info.value) == f"--date: '{text}' is not a date in YYYY-MM-DD form"


def test_parse_logical_date() -> None:
    """A valid --date parses to that date."""
    assert parse_logical_date("2026-03-08") == date(2026, 3, 8)
    assert parse_logical_date("2024-02-29") == date(2024, 2, 29)
