"""Property tests for schedule expressions: agreement with croniter, and DST invariants."""

from __future__ import annotations

import calendar
import contextlib
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from dailyfetch.schedule_expression import (
    CronExpression,
    ScheduleExpressionError,
    parse_schedule_expression,
)

hypothesis = pytest.importorskip("hypothesis")
croniter_module = pytest.importorskip("croniter")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

croniter = croniter_module.croniter
CroniterBadDateError = croniter_module.CroniterBadDateError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
DST_ZONES = [
    ZoneInfo(name)
    for name in (
        "America/New_York",
        "Europe/London",
        "Australia/Sydney",
        "Asia/Tokyo",
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "America/Santiago",  # DST changes at midnight
    )
]

Pair = tuple[str, str]  # (AWS text, croniter text) for one field


def value(low: int, high: int, names: tuple[str, ...], shift: int) -> st.SearchStrategy[Pair]:
    """One value: the number (or its name, in either case) for AWS, shifted for croniter."""

    def render(number: int, as_name: bool, lower: bool) -> Pair:
        text = str(number)
        if names and as_name:
            text = names[number - low].lower() if lower else names[number - low]
        return text, str(number - shift)

    return st.builds(render, st.integers(low, high), st.booleans(), st.booleans())


def item(low: int, high: int, names: tuple[str, ...] = (), shift: int = 0) -> st.SearchStrategy[Pair]:
    """One comma-separated item: a value, a range, a start/step, a range/step or */step."""
    ends = st.tuples(value(low, high, names, shift), value(low, high, names, shift)).filter(
        lambda pair: int(pair[0][1]) <= int(pair[1][1])
    )
    steps = st.integers(1, high - low)
    top = high - shift

    def span(first: Pair, last: Pair, step: int | None = None) -> Pair:
        aws = f"{first[0]}-{last[0]}" + (f"/{step}" if step else "")
        if first[1] == last[1]:  # croniter 7 reads 'n-n' as '*', so give it plain 'n'
            return aws, first[1]
        return aws, f"{first[1]}-{last[1]}" + (f"/{step}" if step else "")

    return st.one_of(
        value(low, high, names, shift),
        ends.map(lambda e: span(*e)),
        st.tuples(value(low, high, names, shift), steps).map(
            lambda v: (f"{v[0][0]}/{v[1]}", span(v[0], ("", str(top)), v[1])[1])
        ),
        st.tuples(ends, steps).map(lambda v: span(v[0][0], v[0][1], v[1])),
        steps.map(lambda s: (f"*/{s}", f"{low - shift}-{top}/{s}")),
    )


def field_pair(low: int, high: int, names: tuple[str, ...] = (), shift: int = 0) -> st.SearchStrategy[Pair]:
    """A whole field: `*` or a list of one to three items."""
    items = st.lists(item(low, high, names, shift), min_size=1, max_size=3)
    return st.one_of(
        st.just(("*", "*")),
        items.map(lambda xs: (",".join(x[0] for x in xs), ",".join(x[1] for x in xs))),
    )


@st.composite
def classic_cron(draw: st.DrawFn) -> tuple[str, str]:
    """An AWS cron() in the subset croniter shares, with its croniter translation."""
    minute = draw(field_pair(0, 59))
    hour = draw(field_pair(0, 23))
    month = draw(field_pair(1, 12, MONTHS))
    if draw(st.booleans()):  # AWS's unused day field is '?'; croniter's is '*'
        dom, dow = draw(field_pair(1, 31)), ("?", "*")
    else:
        dom, dow = ("?", "*"), draw(field_pair(1, 7, WEEKDAYS, shift=1))
    aws = f"cron({minute[0]} {hour[0]} {dom[0]} {month[0]} {dow[0]} *)"
    classic = f"{minute[1]} {hour[1]} {dom[1]} {month[1]} {dow[1]}"
    return aws, classic


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=300, deadline=None)
@given(classic_cron(), instants)
def test_agrees_with_croniter_in_utc(pair: tuple[str, str], after: datetime) -> None:
    """On the classic five-field subset in UTC, the next fire times equal croniter's."""
    aws, classic = pair
    ours = list(islice(parse_schedule_expression(aws).iter_after(after, ZoneInfo("UTC")), 4))
    try:
        it = croniter(classic, after)
        theirs = [it.get_next(datetime) for _ in range(4)]
    except CroniterBadDateError:
        assert ours == []
        return
    assert [d.astimezone(UTC) for d in ours] == [d.astimezone(UTC) for d in theirs]


@settings(max_examples=200, deadline=None)
@given(
    classic_cron(),
    st.sampled_from(DST_ZONES),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_fires_are_ordered_existing_matching_wall_times(
    pair: tuple[str, str], tz: ZoneInfo, after_wall: datetime
) -> None:
    """In any zone, fires are strictly increasing, exist, match the fields, and never repeat."""
    expr = parse_schedule_expression(pair[0])
    assert isinstance(expr, CronExpression)
    after = after_wall.replace(tzinfo=tz)
    fires = list(islice(expr.iter_after(after, tz), 30))
    previous = after.astimezone(UTC)
    walls = set()
    for fire in fires:
        instant = fire.astimezone(UTC)
        assert instant > previous
        previous = instant
        wall = fire.replace(tzinfo=None, fold=0)
        assert wall.replace(tzinfo=tz).astimezone(UTC) == instant  # first occurrence, exists
        assert wall not in walls
        walls.add(wall)
        assert fire.minute in expr.fields.minutes
        assert fire.hour in expr.fields.hours
        assert fire.month in expr.fields.months
        assert fire.day in expr.fields.day_rule.days_in(fire.year, fire.month)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 59),
    st.integers(0, 23),
    st.sampled_from(DST_ZONES),
    st.integers(2025, 2027),
)
def test_daily_cron_fires_once_a_day_unless_the_time_is_skipped(
    minute: int, hour: int, tz: ZoneInfo, year: int
) -> None:
    """A daily time fires on every date of a year, except dates on which it does not exist."""
    expr = parse_schedule_expression(f"cron({minute} {hour} * * ? *)")
    start = datetime(year, 1, 1, tzinfo=tz)
    fires = expr.between(start, datetime(year + 1, 1, 1, tzinfo=tz), tz)
    dates = [f.date() for f in fires]
    assert len(dates) == len(set(dates))
    missing = 365 + calendar.isleap(year) - len(dates)
    for day in range(365 + calendar.isleap(year)):
        wall = datetime(year, 1, 1, hour, minute) + timedelta(days=day)
        exists = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
        assert (wall.date() in dates) == exists
    assert missing <= 1


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 500),
    st.sampled_from(["minute", "hour", "day"]),
    st.sampled_from(DST_ZONES),
    instants,
    instants,
)
def test_rate_fires_are_evenly_spaced_from_the_anchor(
    n: int, unit: str, tz: ZoneInfo, anchor: datetime, after: datetime
) -> None:
    """rate() fires are anchor + k * interval in absolute time, the first one after `after`."""
    text = f"rate({n} {unit}{'s' if n > 1 else ''})"
    interval = timedelta(**{f"{unit}s": n})
    fires = list(islice(parse_schedule_expression(text).iter_after(after, tz, anchor=anchor), 3))
    assert all(fire.tzinfo is tz for fire in fires)
    # Compare in UTC: arithmetic between datetimes of one ZoneInfo ignores the offset.
    fires = [fire.astimezone(UTC) for fire in fires]
    assert fires[0] > after
    assert fires[0] - interval <= after or fires[0] == anchor
    for fire in fires:
        assert (fire - anchor) % interval == timedelta(0)
    assert fires[1] - fires[0] == fires[2] - fires[1] == interval


@settings(max_examples=100, deadline=None)
@given(classic_cron(), instants, st.integers(1, 5000))
def test_between_equals_iter_after_cut_at_end(pair: tuple[str, str], start: datetime, minutes: int) -> None:
    """between(start, end) is exactly the fires from iter_after that fall before `end`."""
    expr = parse_schedule_expression(pair[0])
    tz = ZoneInfo("Europe/London")
    end = start + timedelta(minutes=minutes)
    expected = []
    for fire in expr.iter_after(start - timedelta(microseconds=1), tz):
        if fire >= end:
            break
        expected.append(fire)
    assert expr.between(start, end, tz) == expected


CRON_TOKENS = ("0", "1", "5", "7", "12", "31", "59", "60", "*", "?", "/", "-", ",", " ", "L")
CRON_ALPHABET = st.sampled_from((*CRON_TOKENS, "W", "#", "LW", "MON", "jan", "FOO", "2026", "1969"))


@settings(max_examples=500, deadline=None)
@given(st.lists(CRON_ALPHABET, max_size=20).map("".join))
def test_parser_only_raises_schedule_expression_error(body: str) -> None:
    """Any text inside cron() parses, or raises ScheduleExpressionError: never anything else."""
    try:
        expr = parse_schedule_expression(f"cron({body})")
    except ScheduleExpressionError as exc:
        assert exc.field in exc.message
        return
    expr.next_after(datetime(2026, 1, 1, tzinfo=UTC), ZoneInfo("Asia/Tokyo"))
    assert expr.describe()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    """Arbitrary text parses or raises ScheduleExpressionError, never another exception."""
    with contextlib.suppress(ScheduleExpressionError):
        parse_schedule_expression(text)
