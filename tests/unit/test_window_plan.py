"""Unit tests for [job] window in the config and in planned runs: validation, variables, defaults."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from dailyfetch.config import Config
from dailyfetch.config_file import parse_config
from dailyfetch.errors import ConfigError
from dailyfetch.plan import default_logical_time, parse_logical_time, plan_run, render


def config(
    window: str | None = None, timezone: str = "UTC", extra_dest: str = 'primary_key = ["id"]'
) -> Config:
    """A minimal REST config with the given window and zone."""
    line = f'window = "{window}"' if window is not None else ""
    return parse_config(
        f"""
        [job]
        name = "j"
        {line}
        [schedule]
        timezone = "{timezone}"
        [source]
        kind = "rest"
        url = "https://api.test/items"
        [destination]
        table = "t"
        {extra_dest}
        """,
        env={},
    )


def test_window_defaults_to_one_day() -> None:
    """Without [job] window a run covers one day, as before."""
    cfg = config()
    assert cfg.job.window == "1d"
    assert not cfg.job.run_window.sub_day


@pytest.mark.parametrize(
    ("text", "normal"), [("1h", "1h"), ("6h", "6h"), ("12h", "12h"), ("24h", "1d"), ("7d", "7d")]
)
def test_accepted_windows(text: str, normal: str) -> None:
    """1d, 7d and Nh with N dividing 24 are accepted (24h is 1d)."""
    assert config(text).job.window == normal


@pytest.mark.parametrize("text", ["5h", "2d", "30m", "hourly", "0h", ""])
def test_other_windows_are_a_config_error_naming_job_window(text: str) -> None:
    """Anything else fails validation with one line naming job.window and the accepted values."""
    with pytest.raises(ConfigError) as info:
        config(text)
    assert str(info.value) == (
        "<config>: job.window: must be '1d', '7d' or 'Nh' with N dividing 24 (1h, 2h, 3h, 4h, 6h, 8h, 12h), "
        f"got {text!r}"
    )
    assert info.value.exit_code == 2


def test_append_is_allowed_with_every_window() -> None:
    """Append mode works with hour and week windows (hours are told apart by _dailyfetch_window)."""
    assert config("1h", extra_dest="").destination.write_mode == "append"
    assert config("7d", extra_dest="").destination.write_mode == "append"


def test_hourly_plan_variables_follow_the_window() -> None:
    """{start}/{end} bound the hour; {date} is the window start's date."""
    plan = plan_run(config("1h", "Europe/Berlin"), datetime(2026, 6, 10, 23))
    variables = plan.variables(plan.partitions[0])
    assert render("{date} {start} {end}", variables) == (
        "2026-06-10 2026-06-10T23:00:00+02:00 2026-06-11T00:00:00+02:00"
    )
    assert render("{start_utc:%H:%M}-{end_utc:%H:%M}", variables) == "21:00-22:00"
    assert (plan.logical_date, plan.start_wall, plan.label) == (
        date(2026, 6, 10),
        datetime(2026, 6, 10, 23),
        "2026-06-10T23:00",
    )


def test_hourly_plan_on_the_fall_back_hour_is_two_hours() -> None:
    """The 01:00 window on New York's fall-back day runs from 01:00 EDT to 02:00 EST."""
    plan = plan_run(config("1h", "America/New_York"), datetime(2026, 11, 1, 1))
    variables = plan.variables(plan.partitions[0])
    assert render("{start} {end} {start_utc:%H:%M} {end_utc:%H:%M}", variables) == (
        "2026-11-01T01:00:00-04:00 2026-11-01T02:00:00-05:00 05:00 07:00"
    )


def test_weekly_plan_covers_monday_to_monday() -> None:
    """A 7d run for 2026-03-23 covers that ISO week, 167 hours in Berlin (DST starts 03-29)."""
    plan = plan_run(config("7d", "Europe/Berlin"), date(2026, 3, 23))
    variables = plan.variables(plan.partitions[0])
    assert render("{start} {end}", variables) == "2026-03-23T00:00:00+01:00 2026-03-30T00:00:00+02:00"
    assert (variables["end_utc"] - variables["start_utc"]).total_seconds() == 167 * 3600


def test_daily_plan_is_unchanged() -> None:
    """A daily plan from a date: midnight to midnight, keyed by the date."""
    plan = plan_run(config(timezone="America/New_York"), date(2026, 3, 8))
    variables = plan.variables(plan.partitions[0])
    assert render("{start} {end}", variables) == "2026-03-08T00:00:00-05:00 2026-03-09T00:00:00-04:00"
    assert plan.key == date(2026, 3, 8) and plan.label == "2026-03-08"


def test_default_logical_time_of_an_hourly_job_is_the_last_complete_hour() -> None:
    """Without --date an hourly job runs the hour that ended last."""
    now = datetime.fromisoformat("2026-06-10T13:20:00+00:00")
    assert default_logical_time(config("1h", "Europe/Berlin"), now) == datetime(2026, 6, 10, 14)
    assert default_logical_time(config("7d", "Europe/Berlin"), now) == datetime(2026, 6, 1)


def test_parse_logical_time_gives_keys_for_the_configs_window() -> None:
    """--date parses to a date for daily jobs and a datetime for hourly ones; off-grid is an error."""
    assert parse_logical_time(config(), "2026-11-01") == date(2026, 11, 1)
    assert parse_logical_time(config("1h"), "2026-11-01T05") == datetime(2026, 11, 1, 5)
    with pytest.raises(ConfigError, match="is not the start of a window"):
        parse_logical_time(config("7d"), "2026-11-01")
