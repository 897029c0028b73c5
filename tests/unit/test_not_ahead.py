"""`run --date` and `backfill --end` refuse a window whose data is not all there yet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dailyfetch.config import Config
from dailyfetch.config_file import parse_config
from dailyfetch.errors import ConfigError
from dailyfetch.plan import check_not_ahead


def config(rule: str = "yesterday", window: str = "1d", timezone: str = "Asia/Tokyo") -> Config:
    """A minimal job with the given logical-date rule, window and zone."""
    return parse_config(
        f'[job]\nname = "j"\nlogical_date = "{rule}"\nwindow = "{window}"\n'
        f'[schedule]\ntimezone = "{timezone}"\n'
        '[source]\nkind = "rest"\nurl = "https://api.test/x"\n[destination]\ntable = "t"\n',
        env={},
    )


TOKYO_MIDNIGHT = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 2026-11-30 00:00 in Tokyo


def test_yesterday_rule_a_day_is_ahead_until_it_has_ended_in_the_zone() -> None:
    """2026-11-29 (Tokyo) ends at 15:00 UTC: refused a second before, allowed from then."""
    cfg = config()
    with pytest.raises(ConfigError) as caught:
        check_not_ahead(cfg, date(2026, 11, 29), now=TOKYO_MIDNIGHT - timedelta(seconds=1))
    assert str(caught.value).startswith(
        "--date: 2026-11-29 is ahead: its window ends at 2026-11-30T00:00:00+09:00 (Asia/Tokyo)"
    )
    assert "--early" in str(caught.value)
    check_not_ahead(cfg, date(2026, 11, 29), now=TOKYO_MIDNIGHT)  # the scheduler's fire at midnight
    check_not_ahead(cfg, date(2026, 11, 28), now=TOKYO_MIDNIGHT - timedelta(hours=20))


def test_today_rule_a_day_may_run_once_it_has_begun() -> None:
    """With logical_date = "today" the day's own run is normal; the next day's is ahead."""
    cfg = config("today")
    now = TOKYO_MIDNIGHT + timedelta(hours=2, minutes=30)  # 02:30 Tokyo on 2026-11-30
    check_not_ahead(cfg, date(2026, 11, 30), now=now)
    with pytest.raises(
        ConfigError, match=r"2026-12-01 is ahead: its window begins at 2026-12-01T00:00:00\+09:00"
    ):
        check_not_ahead(cfg, date(2026, 12, 1), now=now)


def test_hour_windows_and_the_backfill_option() -> None:
    """An hourly job: the current hour is ahead until it ends; --end says so with its own hint."""
    cfg = config(window="1h", timezone="UTC")
    now = datetime(2026, 11, 29, 13, 20, tzinfo=UTC)
    check_not_ahead(cfg, datetime(2026, 11, 29, 12, 0), now=now)
    with pytest.raises(ConfigError) as caught:
        check_not_ahead(cfg, datetime(2026, 11, 29, 13, 0), option="--end", now=now)
    assert str(caught.value) == (
        "--end: 2026-11-29T13:00 is ahead: its window ends at 2026-11-29T14:00:00+00:00 (UTC), "
        "so its data is not all there yet (end the range at the last closed window)"
    )
