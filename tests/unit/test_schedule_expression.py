"""Table tests for AWS EventBridge Scheduler expressions: constructs, DST, errors, speed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dailyfetch.errors import ConfigError
from dailyfetch.schedule_expression import (
    AtExpression,
    CronExpression,
    RateExpression,
    ScheduleExpressionError,
    parse_schedule_expression,
    parse_timezone,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
TOKYO = ZoneInfo("Asia/Tokyo")


def at(iso: str) -> datetime:
    """An aware datetime from an ISO string that carries its UTC offset."""
    value = datetime.fromisoformat(iso)
    assert value.tzinfo is not None
    return value


def next_fires(expression: str, after: str, tz: ZoneInfo, count: int, anchor: str | None = None) -> list[str]:
    """The next `count` fire times as ISO strings with their UTC offset, minute precision."""
    parsed = parse_schedule_expression(expression)
    fires = parsed.iter_after(at(after), tz, anchor=at(anchor) if anchor else None)
    result = []
    for fire, _ in zip(fires, range(count), strict=False):
        assert fire.tzinfo is tz
        result.append(fire.isoformat(timespec="minutes"))
    return result


# --- cron constructs, in UTC -----------------------------------------------------------

JAN1 = "2026-01-01T00:00+00:00"  # a Thursday
END = "no more fire times"

CONSTRUCTS = [
    ("cron(0 10 * * ? *)", JAN1, ["2026-01-01T10:00", "2026-01-02T10:00", "2026-01-03T10:00"]),
    ("cron(15 12 * * ? *)", JAN1, ["2026-01-01T12:15", "2026-01-02T12:15"]),
    ("cron(0 10,15 * * ? *)", JAN1, ["2026-01-01T10:00", "2026-01-01T15:00", "2026-01-02T10:00"]),
    (
        "cron(0 18 ? * MON-FRI *)",
        JAN1,
        ["2026-01-01T18:00", "2026-01-02T18:00", "2026-01-05T18:00"],
    ),
    ("cron(0 8 1 * ? *)", JAN1, ["2026-01-01T08:00", "2026-02-01T08:00", "2026-03-01T08:00"]),
    ("cron(*/5 * * * ? *)", JAN1, ["2026-01-01T00:05", "2026-01-01T00:10", "2026-01-01T00:15"]),
    (
        "cron(10/15 * * * ? *)",
        JAN1,
        [
            "2026-01-01T00:10",
            "2026-01-01T00:25",
            "2026-01-01T00:40",
            "2026-01-01T00:55",
            "2026-01-01T01:10",
        ],
    ),
    (
        "cron(0 0 1-30/2 * ? *)",
        "2026-01-28T00:00+00:00",
        ["2026-01-29T00:00", "2026-02-01T00:00", "2026-02-03T00:00"],
    ),
    (
        "cron(0 12 ? jan,Jul sun *)",
        "2026-01-20T00:00+00:00",
        ["2026-01-25T12:00", "2026-07-05T12:00", "2026-07-12T12:00"],
    ),
    ("cron(0 12 ? * 1 *)", JAN1, ["2026-01-04T12:00", "2026-01-11T12:00"]),
    ("cron(0 12 ? * 7 *)", JAN1, ["2026-01-03T12:00", "2026-01-10T12:00"]),
    (
        "cron(0 0 ? * SUN-SAT/2 *)",
        JAN1,
        ["2026-01-03T00:00", "2026-01-04T00:00", "2026-01-06T00:00", "2026-01-08T00:00"],
    ),
    ("cron(0 0 1 */3 ? *)", JAN1, ["2026-04-01T00:00", "2026-07-01T00:00", "2026-10-01T00:00"]),
    ("cron(0 0 31 * ? *)", JAN1, ["2026-01-31T00:00", "2026-03-31T00:00", "2026-05-31T00:00"]),
    ("cron(0 12 L * ? *)", JAN1, ["2026-01-31T12:00", "2026-02-28T12:00", "2026-03-31T12:00"]),
    ("cron(0 12 L * ? *)", "2028-02-01T00:00+00:00", ["2028-02-29T12:00", "2028-03-31T12:00"]),
    ("cron(0 12 ? * L *)", JAN1, ["2026-01-03T12:00", "2026-01-10T12:00", "2026-01-17T12:00"]),
    ("cron(0 12 ? * 5L *)", JAN1, ["2026-01-29T12:00", "2026-02-26T12:00", "2026-03-26T12:00"]),
    ("cron(0 12 ? * FRIL *)", JAN1, ["2026-01-30T12:00", "2026-02-27T12:00"]),
    ("cron(0 12 LW * ? *)", JAN1, ["2026-01-30T12:00", "2026-02-27T12:00", "2026-03-31T12:00"]),
    ("cron(0 12 LW * ? *)", "2026-05-01T00:00+00:00", ["2026-05-29T12:00", "2026-06-30T12:00"]),
    (
        "cron(0 12 15W * ? *)",
        JAN1,
        ["2026-01-15T12:00", "2026-02-16T12:00", "2026-03-16T12:00", "2026-04-15T12:00"],
    ),
    ("cron(0 12 15W * ? *)", "2026-08-01T00:00+00:00", ["2026-08-14T12:00"]),
    (
        "cron(0 12 1W * ? *)",
        "2026-07-15T00:00+00:00",
        ["2026-08-03T12:00", "2026-09-01T12:00", "2026-10-01T12:00", "2026-11-02T12:00"],
    ),
    (
        "cron(0 12 31W * ? *)",
        "2026-05-01T00:00+00:00",
        ["2026-05-29T12:00", "2026-07-31T12:00", "2026-08-31T12:00"],
    ),
    ("cron(0 12 ? * 6#3 *)", JAN1, ["2026-01-16T12:00", "2026-02-20T12:00", "2026-03-20T12:00"]),
    ("cron(0 9 ? * 2#1 *)", JAN1, ["2026-01-05T09:00", "2026-02-02T09:00", "2026-03-02T09:00"]),
    ("cron(0 12 ? * THU#5 *)", JAN1, ["2026-01-29T12:00", "2026-04-30T12:00", "2026-07-30T12:00"]),
    ("cron(0 0 1 1 ? 2027-2028)", JAN1, ["2027-01-01T00:00", "2028-01-01T00:00", END]),
    ("cron(0 0 1 1 ? 2030/5)", JAN1, ["2030-01-01T00:00", "2035-01-01T00:00"]),
    ("cron(0 0 1 1 ? 2026,2028)", JAN1, ["2028-01-01T00:00", END]),
    ("cron(0 0 29 FEB ? *)", JAN1, ["2028-02-29T00:00", "2032-02-29T00:00"]),
    ("cron(59 23 31 12 ? 2199)", JAN1, ["2199-12-31T23:59", END]),
    ("cron(0 0 30 FEB ? *)", JAN1, [END]),
    ("cron(0 0 1 1 ? 2020)", JAN1, [END]),
    ("cron(0 0 ? 6 6#5 2026)", JAN1, [END]),
]


@pytest.mark.parametrize(("expression", "after", "expected"), CONSTRUCTS)
def test_cron_construct_fires_at_expected_times(expression: str, after: str, expected: list[str]) -> None:
    """Each cron() construct fires exactly at the listed UTC times, and stops at END."""
    exhausted = expected[-1] == END
    wanted = expected[:-1] if exhausted else expected
    fires = next_fires(expression, after, ZoneInfo("UTC"), len(wanted) + 1)
    assert [f.removesuffix("+00:00") for f in fires[: len(wanted)]] == wanted
    assert (len(fires) == len(wanted)) == exhausted


def test_cron_next_after_is_strictly_after() -> None:
    """A fire time equal to `after` is not returned; the following one is."""
    expr = parse_schedule_expression("cron(0 10 * * ? *)")
    utc = ZoneInfo("UTC")
    fire = expr.next_after(at("2026-01-01T10:00+00:00"), utc)
    assert fire == at("2026-01-02T10:00+00:00")
    assert expr.next_after(at("2026-01-01T09:59:59.999999+00:00"), utc) == at("2026-01-01T10:00+00:00")


def test_after_in_another_zone_is_compared_as_an_instant() -> None:
    """`after` may carry any zone: 09:30 in New York is 14:30 UTC, so 15:00 UTC is next."""
    expr = parse_schedule_expression("cron(0 * * * ? *)")
    fire = expr.next_after(at("2026-01-01T09:30-05:00"), ZoneInfo("UTC"))
    assert fire == at("2026-01-01T15:00+00:00")


def test_naive_after_is_rejected() -> None:
    """A naive datetime is a programming error: it has no instant, so ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_schedule_expression("cron(0 10 * * ? *)").next_after(datetime(2026, 1, 1), TOKYO)


# --- time zones and DST ----------------------------------------------------------------

DST = [
    # New York springs forward 2026-03-08 02:00 -> 03:00: 02:30 does not exist that day.
    (
        "cron(30 2 * * ? *)",
        NEW_YORK,
        "2026-03-07T12:00-05:00",
        ["2026-03-09T02:30-04:00", "2026-03-10T02:30-04:00"],
    ),
    ("cron(59 1 * * ? *)", NEW_YORK, "2026-03-07T12:00-05:00", ["2026-03-08T01:59-05:00"]),
    ("cron(0 3 * * ? *)", NEW_YORK, "2026-03-07T12:00-05:00", ["2026-03-08T03:00-04:00"]),
    # New York falls back 2026-11-01 02:00 -> 01:00: 01:30 fires once, as EDT.
    (
        "cron(30 1 * * ? *)",
        NEW_YORK,
        "2026-10-31T12:00-04:00",
        ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"],
    ),
    (
        "cron(0 * * * ? *)",
        NEW_YORK,
        "2026-11-01T00:30-04:00",
        ["2026-11-01T01:00-04:00", "2026-11-01T02:00-05:00", "2026-11-01T03:00-05:00"],
    ),
    (
        "cron(*/30 1 * * ? *)",
        NEW_YORK,
        "2026-11-01T00:00-04:00",
        ["2026-11-01T01:00-04:00", "2026-11-01T01:30-04:00", "2026-11-02T01:00-05:00"],
    ),
    # After the first 01:45 has passed (now 01:10 EST), the repeat does not fire again.
    ("cron(45 1 * * ? *)", NEW_YORK, "2026-11-01T01:10-05:00", ["2026-11-02T01:45-05:00"]),
    ("cron(* * * * ? *)", NEW_YORK, "2026-11-01T01:10-05:00", ["2026-11-01T02:00-05:00"]),
    # London springs forward 2026-03-29 01:00 -> 02:00 and falls back 2026-10-25 02:00 -> 01:00.
    ("cron(30 1 * * ? *)", LONDON, "2026-03-28T12:00+00:00", ["2026-03-30T01:30+01:00"]),
    (
        "cron(30 1 * * ? *)",
        LONDON,
        "2026-10-24T12:00+01:00",
        ["2026-10-25T01:30+01:00", "2026-10-26T01:30+00:00"],
    ),
    ("cron(0 2 * * ? *)", LONDON, "2026-03-28T12:00+00:00", ["2026-03-29T02:00+01:00"]),
    # Sydney falls back 2026-04-05 03:00 -> 02:00 and springs forward 2026-10-04 02:00 -> 03:00.
    (
        "cron(30 2 * * ? *)",
        SYDNEY,
        "2026-04-04T12:00+11:00",
        ["2026-04-05T02:30+11:00", "2026-04-06T02:30+10:00"],
    ),
    ("cron(30 2 * * ? *)", SYDNEY, "2026-10-03T12:00+10:00", ["2026-10-05T02:30+11:00"]),
    (
        "cron(0 12 ? * 1#1 *)",
        SYDNEY,
        "2026-04-01T00:00+11:00",
        ["2026-04-05T12:00+10:00", "2026-05-03T12:00+10:00"],
    ),
    # Tokyo has no DST: 02:30 every day, on every one of those dates.
    (
        "cron(30 2 * * ? *)",
        TOKYO,
        "2026-03-07T12:00+09:00",
        ["2026-03-08T02:30+09:00", "2026-03-09T02:30+09:00"],
    ),
    (
        "cron(30 2 * * ? *)",
        TOKYO,
        "2026-10-03T12:00+09:00",
        ["2026-10-04T02:30+09:00", "2026-10-05T02:30+09:00"],
    ),
]


@pytest.mark.parametrize(("expression", "tz", "after", "expected"), DST)
def test_cron_follows_aws_dst_rules(expression: str, tz: ZoneInfo, after: str, expected: list[str]) -> None:
    """A local time in a spring-forward gap is skipped; a repeated one fires once, first."""
    assert next_fires(expression, after, tz, len(expected)) == expected


@pytest.mark.parametrize(
    ("tz", "day", "count"),
    [
        (NEW_YORK, "2026-03-08", 23),
        (NEW_YORK, "2026-11-01", 24),
        (LONDON, "2026-03-29", 23),
        (LONDON, "2026-10-25", 24),
        (SYDNEY, "2026-10-04", 23),
        (SYDNEY, "2026-04-05", 24),
        (TOKYO, "2026-03-08", 24),
    ],
)
def test_hourly_cron_fires_once_per_existing_wall_clock_hour(tz: ZoneInfo, day: str, count: int) -> None:
    """cron(0 * ...) fires 23 times on a spring-forward day and 24 on a fall-back day."""
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    fires = parse_schedule_expression("cron(0 * * * ? *)").between(
        start, start + timedelta(days=1, hours=1), tz
    )
    same_day = [f for f in fires if f.date().isoformat() == day]
    assert len(same_day) == count
    assert len({f.replace(tzinfo=None) for f in same_day}) == count


def test_results_are_in_the_requested_zone() -> None:
    """The fire time comes back as an aware datetime in `tz`, whatever zone `after` had."""
    fire = parse_schedule_expression("cron(0 9 * * ? *)").next_after(at("2026-06-01T00:00+00:00"), LONDON)
    assert fire is not None
    assert fire.tzinfo is LONDON
    assert fire.isoformat() == "2026-06-01T09:00:00+01:00"


# --- rate() ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "anchor", "expected"),
    [
        (
            "rate(15 minutes)",
            "2026-01-01T01:00+00:00",
            "2026-01-01T00:07+00:00",
            ["2026-01-01T01:07+00:00", "2026-01-01T01:22+00:00"],
        ),
        (
            "rate(1 minute)",
            "2026-01-01T00:00+00:00",
            "2026-01-01T00:00:30+00:00",
            ["2026-01-01T00:00+00:00", "2026-01-01T00:01+00:00"],
        ),
        (
            "rate(1 hour)",
            "2026-01-01T00:00+00:00",
            "2025-12-31T23:30+00:00",
            ["2026-01-01T00:30+00:00", "2026-01-01T01:30+00:00"],
        ),
        (
            "rate(2 days)",
            "2026-01-01T00:00+00:00",
            "2026-01-05T06:00+00:00",
            ["2026-01-05T06:00+00:00", "2026-01-07T06:00+00:00"],
        ),
    ],
)
def test_rate_fires_at_anchor_plus_multiples(
    expression: str, after: str, anchor: str, expected: list[str]
) -> None:
    """rate() fires at anchor + k * interval (k >= 0), the anchor itself included."""
    assert next_fires(expression, after, ZoneInfo("UTC"), len(expected), anchor) == expected


def test_rate_day_is_24_hours_across_dst() -> None:
    """rate(1 day) counts absolute hours, so its wall-clock time moves an hour at DST."""
    fires = next_fires("rate(1 day)", "2026-03-07T11:00-05:00", NEW_YORK, 2, "2026-03-07T12:00-05:00")
    assert fires == ["2026-03-07T12:00-05:00", "2026-03-08T13:00-04:00"]


def test_rate_without_anchor_counts_from_after() -> None:
    """With no anchor, next_after is `after + interval` and between starts at `start`."""
    expr = parse_schedule_expression("rate(5 minutes)")
    utc = ZoneInfo("UTC")
    start = at("2026-01-01T00:00:10+00:00")
    assert expr.next_after(start, utc) == at("2026-01-01T00:05:10+00:00")
    fires = expr.between(start, start + timedelta(minutes=12), utc)
    assert [f.isoformat(timespec="seconds") for f in fires] == [
        "2026-01-01T00:00:10+00:00",
        "2026-01-01T00:05:10+00:00",
        "2026-01-01T00:10:10+00:00",
    ]


def test_rate_anchor_and_after_in_one_zone_across_fall_back() -> None:
    """Anchor and `after` in the same zone across a fall-back hour are compared as instants."""
    anchor = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)  # 01:30 EDT, fold=0
    after = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NEW_YORK)  # 01:10 EST, 40 min later
    fire = parse_schedule_expression("rate(1 hour)").next_after(after, NEW_YORK, anchor=anchor)
    assert fire is not None
    assert fire.isoformat(timespec="minutes") == "2026-11-01T01:30-05:00"


# --- at() --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "tz", "after", "expected"),
    [
        ("at(2026-03-01T10:00:00)", TOKYO, "2026-01-01T00:00+09:00", ["2026-03-01T10:00+09:00"]),
        ("at(2026-03-01T10:00:00)", TOKYO, "2026-03-01T10:00+09:00", []),
        ("at(2026-03-08T02:30:00)", NEW_YORK, "2026-01-01T00:00+00:00", []),
        ("at(2026-11-01T01:30:00)", NEW_YORK, "2026-01-01T00:00+00:00", ["2026-11-01T01:30-04:00"]),
        ("at(2026-10-04T02:30:00)", SYDNEY, "2026-01-01T00:00+00:00", []),
        ("at(2026-04-05T02:30:00)", SYDNEY, "2026-01-01T00:00+00:00", ["2026-04-05T02:30+11:00"]),
    ],
)
def test_at_fires_once_in_the_zone(expression: str, tz: ZoneInfo, after: str, expected: list[str]) -> None:
    """at() fires once at its local time; never if past, or if the time falls in a DST gap."""
    assert next_fires(expression, after, tz, 3) == expected


def test_between_is_half_open() -> None:
    """between(start, end) includes a fire at `start` and excludes one at `end`."""
    expr = parse_schedule_expression("cron(0 * * * ? *)")
    fires = expr.between(at("2026-01-01T10:00+00:00"), at("2026-01-01T12:00+00:00"), TOKYO)
    assert [f.isoformat(timespec="minutes") for f in fires] == [
        "2026-01-01T19:00+09:00",
        "2026-01-01T20:00+09:00",
    ]


def test_between_from_the_repeated_hour_starts_at_that_instant() -> None:
    """between() from 01:30 EST (the second 01:30) excludes 01:45 EDT, 45 minutes earlier."""
    start = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)
    fires = parse_schedule_expression("cron(45 * * * ? *)").between(
        start, start.astimezone(UTC) + timedelta(hours=3), NEW_YORK
    )
    assert [f.isoformat(timespec="minutes") for f in fires] == [
        "2026-11-01T02:45-05:00",
        "2026-11-01T03:45-05:00",
    ]


def test_parse_returns_the_kind_and_keeps_the_text() -> None:
    """Each kind parses to its own class, which keeps the expression text as written."""
    assert isinstance(parse_schedule_expression("cron(0 2 * * ? *)"), CronExpression)
    assert isinstance(parse_schedule_expression("rate(1 day)"), RateExpression)
    assert isinstance(parse_schedule_expression("at(2026-03-01T10:00:00)"), AtExpression)
    assert parse_schedule_expression("cron(0 2 * * ? *)").text == "cron(0 2 * * ? *)"


# --- describe() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "english"),
    [
        ("cron(30 2 * * ? *)", "at 02:30 every day"),
        ("cron(15 10 ? * 6L *)", "at 10:15 on the last Friday of the month"),
        ("cron(0/15 * * * ? *)", "every 15 minutes"),
        ("cron(* * * * ? *)", "every minute"),
        ("cron(0 * * * ? *)", "at minute 0 of every hour"),
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            "every 5 minutes during hours 08 to 17 on Monday to Friday",
        ),
        ("cron(0 10,15 ? * 2,4,6 *)", "at 10:00 and 15:00 on Monday, Wednesday and Friday"),
        ("cron(0 9 ? * 2#1 *)", "at 09:00 on the first Monday of the month"),
        ("cron(0 9 L * ? *)", "at 09:00 on the last day of the month"),
        ("cron(0 9 LW * ? *)", "at 09:00 on the last weekday of the month"),
        ("cron(0 9 15W * ? *)", "at 09:00 on the weekday nearest day 15 of the month"),
        ("cron(0 9 1,15 * ? *)", "at 09:00 on days 1 and 15 of the month"),
        ("cron(0 9 ? * L *)", "at 09:00 on Saturday"),
        (
            "cron(0 9 1 JAN-MAR ? 2027)",
            "at 09:00 on day 1 of the month in January to March in 2027",
        ),
        (
            "cron(0 */2 1-30/2 * ? 2030/5)",
            "at minute 0 during hours 00 to 22 in steps of 2 "
            "on days 1 to 29 in steps of 2 of the month in 2030 to 2195 in steps of 5",
        ),
        ("cron(5/15 * * * ? *)", "every 15 minutes from minute 5"),
        (
            "cron(0 0 1 */3 ? *)",
            "at 00:00 on day 1 of the month in January, April, July and October",
        ),
        ("rate(15 minutes)", "every 15 minutes"),
        ("rate(1 day)", "every day"),
        ("at(2026-03-01T10:00:00)", "once at 2026-03-01 10:00:00"),
    ],
)
def test_describe_reads_as_plain_english(expression: str, english: str) -> None:
    """describe() gives a short English sentence for the schedule."""
    assert parse_schedule_expression(expression).describe() == english


# --- errors ------------------------------------------------------------------------------

INVALID = [
    ("cron(0 10 * * *)", "cron()"),
    ("cron(0 10 * * ? * *)", "cron()"),
    ("cron(61 10 * * ? *)", "minute"),
    ("cron(L 10 * * ? *)", "minute"),
    ("cron(1,,2 10 * * ? *)", "minute"),
    ("cron(-5 10 * * ? *)", "minute"),
    ("cron(*/x 10 * * ? *)", "minute"),
    ("cron(0/61 10 * * ? *)", "minute"),
    ("cron(0 24 * * ? *)", "hour"),
    ("cron(0 */0 * * ? *)", "hour"),
    ("cron(0 22-2 * * ? *)", "hour"),
    ("cron(0 10- * * ? *)", "hour"),
    ("cron(0 ? * * ? *)", "hour"),
    ("cron(0 10 0 * ? *)", "day-of-month"),
    ("cron(0 10 32 * ? *)", "day-of-month"),
    ("cron(0 10 L-3 * ? *)", "day-of-month"),
    ("cron(0 10 L,15 * ? *)", "day-of-month"),
    ("cron(0 10 1-5W * ? *)", "day-of-month"),
    ("cron(0 10 W * ? *)", "day-of-month"),
    ("cron(0 10 32W * ? *)", "day-of-month"),
    ("cron(0 10 1W,15 * ? *)", "day-of-month"),
    ("cron(0 10 MON * ? *)", "day-of-month"),
    ("cron(0 10 * 13 ? *)", "month"),
    ("cron(0 10 * 0 ? *)", "month"),
    ("cron(0 10 * FOO ? *)", "month"),
    ("cron(0 10 * JAN-FOO ? *)", "month"),
    ("cron(0 10 * DEC-JAN ? *)", "month"),
    ("cron(0 10 ? * 0 *)", "day-of-week"),
    ("cron(0 10 ? * 8 *)", "day-of-week"),
    ("cron(0 10 ? * FOO *)", "day-of-week"),
    ("cron(0 10 ? * MONDAY *)", "day-of-week"),
    ("cron(0 10 ? * FRI-MON *)", "day-of-week"),
    ("cron(0 10 ? * 3#1,6#3 *)", "day-of-week"),
    ("cron(0 10 ? * 6#6 *)", "day-of-week"),
    ("cron(0 10 ? * 6#0 *)", "day-of-week"),
    ("cron(0 10 ? * 8#1 *)", "day-of-week"),
    ("cron(0 10 ? * #3 *)", "day-of-week"),
    ("cron(0 10 ? * 8L *)", "day-of-week"),
    ("cron(0 10 ? * L,2 *)", "day-of-week"),
    ("cron(0 10 ? * 2W *)", "day-of-week"),
    ("cron(0 10 ? * MON/0 *)", "day-of-week"),
    ("cron(0 10 * * ? 1969)", "year"),
    ("cron(0 10 * * ? 2200)", "year"),
    ("cron(0 10 * * ? L)", "year"),
    ("cron(0 10 * * ? JAN)", "year"),
    ("cron(0 10 * * ? 2026-2020)", "year"),
    ("cron(0 10 * * ? */300)", "year"),
    ("cron(0 10 * * * *)", "day-of-month and day-of-week"),
    ("cron(0 10 ? * ? *)", "day-of-month and day-of-week"),
    ("cron(0 10 1 * MON *)", "day-of-month and day-of-week"),
    ("rate(0 minutes)", "rate"),
    ("rate(1 minutes)", "rate"),
    ("rate(5 minute)", "rate"),
    ("rate(5 weeks)", "rate"),
    ("rate(five minutes)", "rate"),
    ("rate(5minutes)", "rate"),
    ("rate(-1 minutes)", "rate"),
    ("at(2026-02-30T10:00:00)", "at"),
    ("at(2026-03-01 10:00:00)", "at"),
    ("at(2026-03-01T25:00:00)", "at"),
    ("at(2026-03-01T10:00)", "at"),
    ("", "schedule expression"),
    ("cron 0 10 * * ? *", "schedule expression"),
    ("CRON(0 10 * * ? *)", "schedule expression"),
    ("cron(0 10 * * ? *", "schedule expression"),
    ("every day at ten", "schedule expression"),
]


@pytest.mark.parametrize(("expression", "field"), INVALID)
def test_invalid_expression_names_its_field(expression: str, field: str) -> None:
    """Every expression AWS would reject raises ScheduleExpressionError naming the field."""
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_schedule_expression(expression)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:") or field == "cron()"
    assert field in caught.value.message
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(61 10 * * ? *)", "minute: 61 is out of range 0-59"),
        ("cron(0 10 * *)", "cron() takes 6 fields, got 4"),
        ("cron(0 10 ? * FOO *)", "day-of-week: 'FOO' is not a weekday name"),
        ("cron(0 */0 * * ? *)", "hour: step must be positive"),
        ("cron(0 10 * * * *)", "day-of-month and day-of-week: one must be '?'"),
        ("cron(0 10 ? * FRI-MON *)", "day-of-week: range FRI-MON runs backwards"),
        ("rate(1 minutes)", "rate: 1 takes the unit 'minute', not 'minutes'"),
    ],
)
def test_error_messages_say_what_is_wrong(expression: str, message: str) -> None:
    """The message starts with the field, then the problem in plain words."""
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_schedule_expression(expression)
    assert caught.value.message.startswith(message)
    assert repr(expression) in caught.value.message


def test_wrap_around_error_shows_the_fix() -> None:
    """A backwards range is rejected with a hint spelling out the two-part equivalent."""
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_schedule_expression("cron(0 22-2 * * ? *)")
    assert caught.value.hint == "split it in two: 22-23,0-2"


def test_parse_timezone_accepts_iana_names() -> None:
    """IANA names load as ZoneInfo."""
    assert parse_timezone("Europe/London") == LONDON
    assert parse_timezone("UTC").key == "UTC"


@pytest.mark.parametrize(
    "name",
    ["Mars/Base", "", "America", "/etc/localtime", "../zoneinfo/UTC", "localtime", "posix/UTC"],
)
def test_parse_timezone_rejects_unknown_names(name: str) -> None:
    """A name that is not an IANA zone raises ScheduleExpressionError naming it."""
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_timezone(name)
    assert caught.value.message == f"timezone: {name!r} is not an IANA time zone"
    assert caught.value.field == "timezone"


# --- speed -------------------------------------------------------------------------------


def test_next_after_is_fast() -> None:
    """A typical next_after takes well under a millisecond."""
    expressions = [
        parse_schedule_expression(text)
        for text in (
            "cron(30 2 * * ? *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(15 10 ? * 6L *)",
            "cron(0 12 15W * ? *)",
            "cron(0 0 1 1 ? *)",
        )
    ]
    after = at("2026-03-07T12:00-05:00")
    began = time.perf_counter()
    for _ in range(200):
        for expr in expressions:
            expr.next_after(after, NEW_YORK)
    per_call = (time.perf_counter() - began) / 1000
    assert per_call < 0.001


@pytest.mark.parametrize(
    "expression",
    ["cron(0 0 30 FEB ? *)", "cron(0 0 31 APR,JUN,SEP,NOV ? *)", "cron(0 0 1 1 ? 1970)"],
)
def test_schedule_that_never_fires_again_returns_none_quickly(expression: str) -> None:
    """An exhausted or impossible schedule gives None in bounded time, not an endless loop."""
    began = time.perf_counter()
    assert parse_schedule_expression(expression).next_after(datetime(2026, 1, 1, tzinfo=UTC), TOKYO) is None
    assert time.perf_counter() - began < 0.1
