"""Unit tests for run windows: wall-clock arithmetic, DST days, the fire-time mapping and --date."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dailyfetch.errors import ConfigError
from dailyfetch.fire_times import FireCalendar, logical_date_of, logical_time_of
from dailyfetch.window import DAY, Window, format_key, wall_to_instant

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = Window.parse("1h")
WEEK = Window.parse("7d")


def hours(window: Window, start: datetime, tz: ZoneInfo) -> float:
    """The window's length in absolute hours."""
    begin, end = window.bounds(start, tz)
    return (end.astimezone(UTC) - begin.astimezone(UTC)) / timedelta(hours=1)


def span(window: Window, start: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """The window's bounds as ISO 8601 with their offsets."""
    begin, end = window.bounds(start, tz)
    return begin.isoformat(), end.isoformat()


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (BERLIN, date(2026, 6, 10), 24),
        (NEW_YORK, date(2026, 6, 10), 24),
        (NEW_YORK, date(2026, 3, 8), 23),  # spring forward
        (NEW_YORK, date(2026, 11, 1), 25),  # fall back
        (BERLIN, date(2026, 3, 29), 23),
        (BERLIN, date(2026, 10, 25), 25),
    ],
)
def test_a_day_window_is_one_local_calendar_day(tz: ZoneInfo, day: date, expected: int) -> None:
    """A 1d window runs midnight to midnight in the zone: 24 hours, or 23/25 on DST days."""
    start = datetime.combine(day, datetime.min.time())
    assert hours(DAY, start, tz) == expected
    begin, end = DAY.bounds(start, tz)
    assert (begin.date(), begin.hour, end.date(), end.hour) == (day, 0, day + timedelta(days=1), 0)


def test_hour_windows_on_an_ordinary_day_are_24_hours_of_one_hour() -> None:
    """On an ordinary day there are 24 hour windows, each one hour, back to back."""
    day = HOUR.between(datetime(2026, 6, 10, 0), datetime(2026, 6, 10, 23), BERLIN)
    assert len(day) == 24
    assert {hours(HOUR, t, BERLIN) for t in day} == {1.0}
    assert span(HOUR, datetime(2026, 6, 10, 13), BERLIN) == (
        "2026-06-10T13:00:00+02:00",
        "2026-06-10T14:00:00+02:00",
    )


def test_spring_forward_has_no_window_for_the_missing_hour() -> None:
    """New York skips 02:00-03:00 on 2026-03-08: no 02:00 window; 01:00 ends at 03:00 EDT."""
    starts = HOUR.between(datetime(2026, 3, 8, 0), datetime(2026, 3, 8, 4), NEW_YORK)
    assert [t.hour for t in starts] == [0, 1, 3, 4]
    assert span(HOUR, datetime(2026, 3, 8, 1), NEW_YORK) == (
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
    )
    assert not HOUR.exists(datetime(2026, 3, 8, 2), NEW_YORK)
    assert hours(HOUR, datetime(2026, 3, 8, 1), NEW_YORK) == 1


def test_fall_back_hour_window_covers_both_occurrences() -> None:
    """Berlin repeats 02:00-03:00 on 2026-10-25: the 02:00 window covers both, two hours."""
    assert span(HOUR, datetime(2026, 10, 25, 2), BERLIN) == (
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T03:00:00+01:00",
    )
    assert hours(HOUR, datetime(2026, 10, 25, 2), BERLIN) == 2
    assert span(HOUR, datetime(2026, 11, 1, 1), NEW_YORK) == (
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T02:00:00-05:00",
    )


@pytest.mark.parametrize("text", ["1h", "2h", "3h", "6h", "12h"])
@pytest.mark.parametrize(("tz", "day"), [(NEW_YORK, date(2026, 3, 8)), (BERLIN, date(2026, 10, 25))])
def test_sub_day_windows_cover_every_instant_of_a_dst_day_exactly_once(
    text: str, tz: ZoneInfo, day: date
) -> None:
    """Consecutive windows meet, none is empty, and together they are the whole (23 or 25 h) day."""
    window = Window.parse(text)
    midnight = datetime.combine(day, datetime.min.time())
    starts = window.between(midnight, midnight + timedelta(hours=23, minutes=59), tz)
    bounds = [window.bounds(t, tz) for t in starts]
    assert all(end == nxt for (_, end), (nxt, _) in itertools.pairwise(bounds))
    assert all(begin < end for begin, end in bounds)
    assert bounds[0][0] == DAY.bounds(midnight, tz)[0] and bounds[-1][1] == DAY.bounds(midnight, tz)[1]


def test_week_windows_are_iso_weeks_from_monday() -> None:
    """A 7d window starts Monday 00:00 local; the week of the fall-back Sunday is 169 hours."""
    assert WEEK.floor(datetime(2026, 11, 4, 15)) == datetime(2026, 11, 2)
    assert WEEK.floor(datetime(2026, 11, 2, 0)) == datetime(2026, 11, 2)
    assert hours(WEEK, datetime(2026, 6, 8), BERLIN) == 168
    assert hours(WEEK, datetime(2026, 10, 26), NEW_YORK) == 169  # contains 2026-11-01
    assert WEEK.between(datetime(2026, 11, 1), datetime(2026, 11, 20), BERLIN) == [
        datetime(2026, 11, 2),
        datetime(2026, 11, 9),
        datetime(2026, 11, 16),
    ]


def test_a_wall_time_in_a_gap_is_the_transition_and_a_repeated_one_its_first_occurrence() -> None:
    """02:30 on the spring-forward day is 03:00 EDT; 01:30 on the fall-back day is the EDT one."""
    assert wall_to_instant(datetime(2026, 3, 8, 2, 30), NEW_YORK).isoformat() == "2026-03-08T03:00:00-04:00"
    assert wall_to_instant(datetime(2026, 11, 1, 1, 30), NEW_YORK).isoformat() == "2026-11-01T01:30:00-04:00"
    apia = ZoneInfo("Pacific/Apia")  # skipped 2011-12-30 entirely
    assert not DAY.exists(datetime(2011, 12, 30), apia)


def utc(text: str) -> datetime:
    """An ISO 8601 UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("fire", "rule", "window", "expected"),
    [
        ("2026-06-10T13:05", "yesterday", "1h", datetime(2026, 6, 10, 14)),  # 15:05 Berlin: 14:00-15:00
        ("2026-06-10T13:05", "today", "1h", datetime(2026, 6, 10, 15)),
        ("2026-06-10T13:00", "yesterday", "1h", datetime(2026, 6, 10, 14)),  # exactly on a boundary
        ("2026-06-10T13:05", "yesterday", "6h", datetime(2026, 6, 10, 6)),
        ("2026-06-10T13:05", "today", "6h", datetime(2026, 6, 10, 12)),
        ("2026-06-10T13:05", "yesterday", "7d", datetime(2026, 6, 1)),  # a Wednesday: the previous week
        ("2026-06-10T13:05", "today", "7d", datetime(2026, 6, 8)),
        ("2026-06-10T00:30", "yesterday", "1d", datetime(2026, 6, 9)),
        ("2026-06-10T00:30", "today", "1d", datetime(2026, 6, 10)),
    ],
)
def test_fire_time_maps_to_the_last_complete_or_the_current_window(
    fire: str, rule: str, window: str, expected: datetime
) -> None:
    """'yesterday' is the last complete window before the fire; 'today' the window containing it."""
    assert logical_time_of(utc(fire), BERLIN, rule, Window.parse(window)) == expected  # type: ignore[arg-type]


def test_previous_hour_skips_the_hour_that_does_not_exist() -> None:
    """At 03:05 EDT on the spring-forward day, the last complete hour is 01:00 (02:00 does not exist)."""
    fire = datetime(2026, 3, 8, 3, 5, tzinfo=NEW_YORK)
    assert logical_time_of(fire, NEW_YORK, "yesterday", HOUR) == datetime(2026, 3, 8, 1)
    second_one_thirty = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert logical_time_of(second_one_thirty, NEW_YORK, "today", HOUR) == datetime(2026, 11, 1, 1)
    assert logical_time_of(second_one_thirty, NEW_YORK, "yesterday", HOUR) == datetime(2026, 11, 1, 0)


def test_daily_mapping_is_unchanged() -> None:
    """logical_date_of still gives the fire's local date, or the day before."""
    fire = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 02:30 the next day in Tokyo
    assert logical_date_of(fire, ZoneInfo("Asia/Tokyo"), "yesterday") == date(2026, 11, 30)
    assert logical_date_of(fire, ZoneInfo("Asia/Tokyo"), "today") == date(2026, 12, 1)


def test_an_hourly_calendar_schedules_one_window_per_fire() -> None:
    """cron(5 * * * ? *) with 1h windows schedules each hour once, skipping none across spring forward."""
    calendar = FireCalendar.parse("cron(5 * * * ? *)", "America/New_York", "yesterday", HOUR)
    start = datetime(2026, 3, 8, 0, tzinfo=NEW_YORK)
    keys = calendar.scheduled_keys(start, start.astimezone(UTC) + timedelta(hours=6))
    assert [format_key(k) for k in keys] == [
        "2026-03-07T23:00",
        "2026-03-08T00:00",
        "2026-03-08T01:00",
        "2026-03-08T03:00",
        "2026-03-08T04:00",
        "2026-03-08T05:00",
    ]


@pytest.mark.parametrize(
    ("window", "text", "expected"),
    [
        ("1d", "2026-11-01", datetime(2026, 11, 1)),
        ("1d", "2026-11-01T00:00", datetime(2026, 11, 1)),
        ("1h", "2026-11-01", datetime(2026, 11, 1)),
        ("1h", "2026-11-01T13", datetime(2026, 11, 1, 13)),
        ("1h", "2026-11-01T13:00", datetime(2026, 11, 1, 13)),
        ("1h", "2026-11-01T13:00:00", datetime(2026, 11, 1, 13)),
        ("6h", "2026-11-01T18", datetime(2026, 11, 1, 18)),
        ("7d", "2026-11-02", datetime(2026, 11, 2)),
    ],
)
def test_date_option_accepts_window_starts(window: str, text: str, expected: datetime) -> None:
    """--date takes YYYY-MM-DD, and for hour windows YYYY-MM-DDTHH[:MM] on the grid."""
    assert Window.parse(window).parse_option(text, "--date") == expected


@pytest.mark.parametrize(
    ("window", "text", "message"),
    [
        ("1h", "2026-11-01T13:30", "--date: '2026-11-01T13:30' is not the start of a window; [job] window = "
         "'1h' starts windows on the hour (this one starts 2026-11-01T13:00)"),
        ("6h", "2026-11-01T13", "--date: '2026-11-01T13' is not the start of a window; [job] window = '6h' "
         "starts windows at 00:00 and every 6 hours after (this one starts 2026-11-01T12:00)"),
        ("7d", "2026-11-04", "--date: '2026-11-04' is not the start of a window; [job] window = '7d' starts "
         "weeks on Mondays (the week of 2026-11-04 starts 2026-11-02)"),
        ("1d", "2026-11-01T13", "--date: '2026-11-01T13' has a time of day, but [job] window = '1d' takes "
         "YYYY-MM-DD"),
        ("1h", "2026-13-01T01", "--date: '2026-13-01T01' is not a time in YYYY-MM-DD, YYYY-MM-DDTHH or "
         "YYYY-MM-DDTHH:MM form"),
        ("1d", "yesterday", "--date: 'yesterday' is not a date in YYYY-MM-DD form"),
    ],
)  # fmt: skip
def test_date_option_off_the_grid_is_a_one_line_config_error(window: str, text: str, message: str) -> None:
    """A --date off the window grid is a ConfigError naming the option and the window that contains it."""
    with pytest.raises(ConfigError) as info:
        Window.parse(window).parse_option(text, "--date")
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_a_bare_end_date_includes_the_whole_day() -> None:
    """backfill --end 2026-11-01 with 1h windows ends at the day's last window, 23:00."""
    assert HOUR.parse_option("2026-11-01", "--end", end=True) == datetime(2026, 11, 1, 23)
    assert Window.parse("6h").parse_option("2026-11-01", "--end", end=True) == datetime(2026, 11, 1, 18)
    assert DAY.parse_option("2026-11-01", "--end", end=True) == datetime(2026, 11, 1)


def test_keys_and_labels() -> None:
    """Day and week windows are keyed by date, hour windows by their start."""
    assert DAY.key(datetime(2026, 11, 1)) == date(2026, 11, 1)
    assert HOUR.key(datetime(2026, 11, 1, 13)) == datetime(2026, 11, 1, 13)
    assert HOUR.label(datetime(2026, 11, 1, 13)) == "2026-11-01T13:00"
    assert WEEK.label(datetime(2026, 11, 2)) == "2026-11-02"
