"""Notifications through apprise URLs: failure, recovery, missed days and low volume.

``[notify] urls`` are apprise URLs (``mailto://``, ``slack://``, ``ntfy://``,
``json://`` ...); ``on`` chooses the events, ``failure`` and ``recovery`` by default.

* ``failure``: the run failed or was interrupted; names the job, the date, the error
  in one line and the commands that show more.
* ``recovery``: the first success after one or more failures (see
  :func:`dailyfetch.history.is_recovery`).
* ``missed``: the scheduler found days with no run (:func:`notify_missed`).
* ``low_volume``: a success with fewer rows than ``low_volume_fraction`` times the
  median of the last ``low_volume_window`` successful runs (at least 3 of them).

Notifying never fails a run. A notification that cannot be sent is logged as
``notify.failed`` (redacted), counted in :data:`COUNTS` and in the EMF metric
``NotificationsFailed``; :func:`notify_after_run` and :func:`notify_missed` never
raise. Every URL is registered as a secret first, so the tokens in it never reach
a log line. apprise is imported only when something is sent.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import structlog

from dailyfetch.metrics import NOTIFICATIONS_FAILED
from dailyfetch.redact import clip, mask_url, register_secret, register_url_secrets
from dailyfetch.window import format_key

if TYPE_CHECKING:
    from dailyfetch.config import Config, NotifyEvent
    from dailyfetch.runner import RunResult

__all__ = [
    "COUNTS",
    "MIN_HISTORY",
    "Notification",
    "RunHistory",
    "build_notifications",
    "missed_notification",
    "notify_after_run",
    "notify_missed",
    "register_notify_secrets",
    "send_notification",
]

log = structlog.get_logger("dailyfetch")
MIN_HISTORY = 3  # successful runs needed before low volume can be judged

_APPRISE_TYPES = {"failure": "failure", "recovery": "success", "missed": "warning", "low_volume": "warning"}
_ERROR_MAX = 300


@dataclass(frozen=True)
class Notification:
    """One message to send: which event it reports, a title and a plain-text body."""

    event: NotifyEvent
    title: str
    body: str


@dataclass(frozen=True)
class RunHistory:
    """What the ledger says about the runs before this one."""

    recovered: bool = False
    trailing_rows: tuple[int, ...] = ()


@dataclass
class NotifyCounts:
    """How many notifications this process sent and failed to send."""

    sent: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, sent: int = 0, failed: int = 0) -> None:
        """Count sends and failures."""
        with self._lock:
            self.sent += sent
            self.failed += failed


COUNTS = NotifyCounts()


def register_notify_secrets(urls: list[str]) -> None:
    """Register each URL, and the tokens inside it, as secrets.

    apprise URLs carry tokens in the password, the query and often the host and
    path (``slack://TokenA/TokenB/TokenC``), so every host or path segment of 8
    characters or more that is not a host name (no dot, not ``localhost``) counts.
    """
    for url in urls:
        register_secret(url)
        register_url_secrets(url)
        try:
            parts = urlsplit(url)
            user = unquote(parts.username or "")
        except ValueError:
            continue
        host = parts.netloc.rpartition("@")[2]  # as written: .hostname would lowercase a token
        name, _, port = host.rpartition(":")
        host = name if port.isdigit() else host
        candidates = [user, *(unquote(s) for s in parts.path.split("/"))]
        if "." not in host and host != "localhost":
            candidates.append(host)
        for part in candidates:
            if len(part) >= 8:
                register_secret(part)


def _command(verb: str, config_path: str | Path | None) -> str:
    return f"dailyfetch {verb} -c {config_path}" if config_path else f"dailyfetch {verb}"


def _one_line(text: str | None) -> str:
    first = " ".join((text or "unknown error").split())
    return clip(first, _ERROR_MAX)  # redacted before it is cut: no secret's head is left


def failure_notification(config: Config, result: RunResult, config_path: str | Path | None) -> Notification:
    """The message for a failed or interrupted run."""
    job, day = config.job.name, format_key(result.logical_date)
    verb = "was interrupted" if result.outcome == "interrupted" else "failed"
    body = "\n".join(
        [
            f"Job {job} {verb} for {day} after {result.duration:.1f} s "
            f"({result.rows:,} rows committed; the next run resumes from them).",
            f"Error: {_one_line(result.error)}",
            f"See recent runs: {_command('runs', config_path)}",
            f"Run it again with details: {_command('run', config_path)} --date {day} --debug",
        ]
    )
    return Notification("failure", f"dailyfetch: {job} {verb} for {day}", body)


def recovery_notification(config: Config, result: RunResult) -> Notification:
    """The message for the first success after failures."""
    job, day = config.job.name, format_key(result.logical_date)
    body = (
        f"Job {job} succeeded for {day} after earlier failures: "
        f"{result.rows:,} rows in {result.duration:.1f} s."
    )
    return Notification("recovery", f"dailyfetch: {job} recovered", body)


def low_volume_notification(
    config: Config, result: RunResult, median_rows: float, config_path: str | Path | None
) -> Notification:
    """The message for a success with unusually few rows."""
    job, day = config.job.name, format_key(result.logical_date)
    notify = config.notify
    body = "\n".join(
        [
            f"Job {job} wrote {result.rows:,} rows for {day}, below {notify.low_volume_fraction:.0%} of the "
            f"median of its last successful runs ({median_rows:,.0f} rows).",
            "The source may have served a partial day.",
            f"Look at the data: {_command('peek', config_path)}",
            f"Fetch the day again: {_command('run', config_path)} --date {day} --force",
        ]
    )
    return Notification("low_volume", f"dailyfetch: {job} fetched few rows for {day}", body)


def missed_notification(
    config: Config, dates: list[date], config_path: str | Path | None = None
) -> Notification:
    """The message for scheduled days that have no run."""
    job = config.job.name
    days = sorted(set(dates))
    shown = ", ".join(format_key(d) for d in days[:10]) + (
        f" and {len(days) - 10} more" if len(days) > 10 else ""
    )
    noun = "day" if len(days) == 1 else "days"
    body = "\n".join(
        [
            f"Job {job} has no run for {len(days)} scheduled {noun}: {shown}.",
            f"Run one: {_command('run', config_path)} --date {format_key(days[0]) if days else 'YYYY-MM-DD'}",
            f"See recent runs: {_command('runs', config_path)}",
        ]
    )
    return Notification("missed", f"dailyfetch: {job} missed {len(days)} {noun}", body)


def low_volume_median(config: Config, result: RunResult, trailing: tuple[int, ...]) -> float | None:
    """The trailing median ``result.rows`` falls short of, or None when the volume is fine or unknown."""
    from dailyfetch.history import median

    if len(trailing) < MIN_HISTORY:
        return None
    middle = median(list(trailing[: config.notify.low_volume_window]))
    if middle is None or result.rows >= config.notify.low_volume_fraction * middle:
        return None
    return middle


def build_notifications(
    config: Config, result: RunResult, history: RunHistory, config_path: str | Path | None = None
) -> list[Notification]:
    """The notifications ``config.notify.on`` asks for about ``result`` (no I/O)."""
    wanted = set(config.notify.on)
    out: list[Notification] = []
    if result.outcome in ("failed", "interrupted"):
        if "failure" in wanted:
            out.append(failure_notification(config, result, config_path))
        return out
    if result.outcome != "succeeded":
        return out
    if "recovery" in wanted and history.recovered:
        out.append(recovery_notification(config, result))
    if "low_volume" in wanted:
        middle = low_volume_median(config, result, history.trailing_rows)
        if middle is not None:
            out.append(low_volume_notification(config, result, middle, config_path))
    return out


def _read_history(config: Config, result: RunResult, database_url: str | None) -> RunHistory:
    """Ask the ledger what recovery and low volume need; an empty history when not needed."""
    wanted = set(config.notify.on) & {"recovery", "low_volume"}
    if result.outcome != "succeeded" or result.run_id is None or not wanted:
        return RunHistory()
    from dailyfetch import history
    from dailyfetch.database import connect, resolve_database_url

    url, _ = resolve_database_url(database_url, config.database.url)
    conn = connect(url, attempts=2)
    try:
        job = config.job.name
        recovered = "recovery" in wanted and history.is_recovery(conn, job, result.run_id)
        trailing: list[int] = []
        if "low_volume" in wanted:
            trailing = history.trailing_rows(conn, job, result.run_id, config.notify.low_volume_window)
        return RunHistory(recovered=recovered, trailing_rows=tuple(trailing))
    finally:
        conn.close()


def notify_after_run(
    config: Config, result: RunResult, *, database_url: str | None, config_path: str | Path | None = None
) -> None:
    """Send the notifications ``config.notify`` asks for about ``result``; never raises."""
    urls = list(config.notify.urls)
    if not urls:
        return
    try:
        register_notify_secrets(urls)
        try:
            past = _read_history(config, result, database_url)
        except Exception as exc:  # the ledger is unreachable: failure notices still go out
            log.warning("notify.history_failed", job=config.job.name, error=_one_line(str(exc)))
            past = RunHistory()
        notes = build_notifications(config, result, past, config_path)
        failed = sum(send_notification(urls, note, job=config.job.name) for note in notes)
        _emit_failures(config.job.name, failed)
    except Exception as exc:  # a bug here must never fail the run
        COUNTS.add(failed=1)
        log.warning("notify.failed", job=config.job.name, error=_one_line(f"{type(exc).__name__}: {exc}"))


def notify_missed(config: Config, dates: list[date], config_path: str | Path | None = None) -> None:
    """Tell the ``missed`` subscribers that ``dates`` were scheduled but have no run; never raises."""
    urls = list(config.notify.urls)
    if not urls or not dates or "missed" not in config.notify.on:
        return
    try:
        register_notify_secrets(urls)
        note = missed_notification(config, dates, config_path)
        _emit_failures(config.job.name, send_notification(urls, note, job=config.job.name))
    except Exception as exc:
        COUNTS.add(failed=1)
        log.warning("notify.failed", job=config.job.name, error=_one_line(f"{type(exc).__name__}: {exc}"))


def send_notification(urls: list[str], note: Notification, *, job: str) -> int:
    """Send ``note`` to each URL separately; log each failure; return how many failed."""
    failed = 0
    for index, url in enumerate(urls):
        reason = _send_one(url, note)
        # The scheme names the service and is never secret; the rest of the URL may all be token.
        where = {"service": url.partition("://")[0][:20], "url_index": index}
        if reason is None:
            COUNTS.add(sent=1)
            log.info("notify.sent", job=job, kind=note.event, **where)
        else:
            failed += 1
            COUNTS.add(failed=1)
            log.warning("notify.failed", job=job, kind=note.event, error=_one_line(reason), **where)
    return failed


class _Capture(logging.Handler):
    """Collects apprise's own log records, which may quote a URL, so they never print unredacted."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a malformed record must not break sending
            self.messages.append(str(record.msg))


def _send_one(url: str, note: Notification) -> str | None:
    """Send to one URL; None on success, else why it failed."""
    logger = logging.getLogger("apprise")
    capture = _Capture()
    propagate = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False
    try:
        try:
            import apprise
        except ImportError:
            return "the apprise package is not installed (pip install 'apprise>=1.8')"
        sender = apprise.Apprise()
        if not sender.add(url):
            return f"apprise does not understand the URL {mask_url(url)}; see the apprise wiki for its form"
        sent = sender.notify(body=note.body, title=note.title, notify_type=_APPRISE_TYPES[note.event])
        if bool(sent):
            return None
        return capture.messages[-1] if capture.messages else "the service did not accept the notification"
    except Exception as exc:  # apprise plugins raise assorted errors
        return f"{type(exc).__name__}: {exc}"
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate


def _emit_failures(job: str, failed: int) -> None:
    """Write an EMF line counting notifications that could not be sent (none when all went out)."""
    if failed <= 0:
        return
    from dailyfetch.metrics import emf_line

    try:
        sys.stdout.write(emf_line(job, {NOTIFICATIONS_FAILED: failed}).decode() + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
