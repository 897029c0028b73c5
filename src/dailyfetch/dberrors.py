"""psycopg's errors, translated into dailyfetch's error tree by SQLSTATE: the one place that decides.

Above this boundary nothing branches on psycopg's classes (the way httpx maps httpcore's
errors in one place). psycopg files most server errors that matter here under
``OperationalError``: a full disk (53100) as much as a dropped connection, which is why
they used to be retried alike. The kinds:

* **The connection is lost** (:class:`~dailyfetch.errors.DatabaseUnavailableError`,
  transient): SQLSTATE class 08, 57P01 ``admin_shutdown``, 57P02 ``crash_shutdown``,
  57P03 ``cannot_connect_now``, 57P05 ``idle_session_timeout`` (the server ended an idle
  session), and an ``OperationalError`` with no SQLSTATE (the socket closed under psycopg).
  The runner reconnects, with backoff, and resumes from the committed progress.
* **A conflict between transactions** (:class:`~dailyfetch.errors.DatabaseConflictError`, transient): 40001
  ``serialization_failure``, 40P01 ``deadlock_detected``. The transaction was rolled back;
  the runner retries it, with backoff, on the same connection.
* **The run was stopped**: 57014 ``query_canceled`` while the run's stop token is set is
  the deadline (or a signal) cancelling the statement (:mod:`dailyfetch.db_cancel`):
  :class:`~dailyfetch.errors.RunInterrupted`.
* **Everything else is permanent** (:class:`~dailyfetch.errors.LoadError`): a full disk, a
  ``statement_timeout`` or ``lock_timeout`` of the database or role, a program limit (a
  btree index row, 1,600 columns), a constraint. Retrying cannot help, so the run fails at
  once, with a message naming the condition, its SQLSTATE and, where one applies, the
  setting or limit to change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from dailyfetch.errors import (
    DailyfetchError,
    DatabaseConflictError,
    DatabaseUnavailableError,
    LoadError,
    RunInterrupted,
)
from dailyfetch.redact import redact
from dailyfetch.stopping import StopToken

__all__ = [
    "CONNECTION_LOST",
    "condition_name",
    "is_connection_lost",
    "refused_row",
    "translate",
]

CONNECTION_LOST = frozenset({"57P01", "57P02", "57P03", "57P05"})  # and every 08xxx
CONFLICT = frozenset({"40001", "40P01"})
ROW_LIMITS = frozenset({"54000"})  # a limit one row's values exceed (index row size, row too big)

# What to do about a permanent condition; the setting or limit it names.
_HINTS = {
    "53100": "free disk space on the database server, then run again; the next run resumes",
    "53200": "the database server ran out of memory; give it more, or lower [destination] batch_size",
    "53400": "a server configuration limit was reached; see the message for the setting",
    "54000": "a row exceeds a PostgreSQL limit: fix the record, or change the index or column that limits it",
    "54001": "the statement is too complex for the server; lower [destination] batch_size",
    "54011": "the records have more fields than a table can have columns; a python source can fold them into one",
    "54023": "too many arguments for one statement; lower [destination] batch_size",
    "55P03": "raise lock_timeout for the role dailyfetch connects as, or end the session holding the lock",
    "57014": "raise statement_timeout for the role dailyfetch connects as, or lower [destination] batch_size",
    "57P04": "the database was dropped",
    "58030": "the database server reported an I/O error; check its disks",
}
_SETTING = {"57014": "statement_timeout", "55P03": "lock_timeout"}


def condition_name(exc: psycopg.Error) -> str:
    """PostgreSQL's condition name for ``exc`` (``disk_full``), from psycopg's class name."""
    name = type(exc).__name__
    if type(exc).__module__ != "psycopg.errors" or not exc.sqlstate:
        return ""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def is_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (worth reconnecting), by its SQLSTATE."""
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return state.startswith("08") or state in CONNECTION_LOST


def translate(
    exc: psycopg.Error,
    *,
    where: str,
    stop: StopToken | None = None,
    conn: psycopg.Connection[Any] | None = None,
) -> DailyfetchError:
    """``exc`` as a dailyfetch error; ``where`` names what was being done (``writing to public.t``).

    ``conn``, when given, is asked for the setting a timeout names (its transaction is
    rolled back first when it is in error: the error is final for it).
    """
    state = exc.sqlstate
    text = first_line(exc)
    if is_connection_lost(exc):
        code = f" (SQLSTATE {state})" if state else ""
        return DatabaseUnavailableError(f"{where}: the database connection was lost: {text}{code}")
    if state == "57014" and stop is not None and stop.requested:
        return RunInterrupted(stop.reason or "stopped", exit_code=stop.exit_code)
    label = f"SQLSTATE {state} {condition_name(exc)}".rstrip() if state else type(exc).__name__
    if state in CONFLICT:
        return DatabaseConflictError(f"{where}: {text} ({label})")
    hint = _HINTS.get(state or "")
    setting = _SETTING.get(state or "")
    if setting is not None and setting.replace("_", " ") in text:
        value = _show(conn, setting)
        text = f"{text}: {setting} = {value}" if value else f"{text} ({setting})"
    elif state == "57014":  # not a timeout: another session cancelled it (pg_cancel_backend)
        hint = "another session cancelled the statement; run again"
    return LoadError(f"{where}: {text} ({label})", hint=hint)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, redacted."""
    lines = str(exc).strip().splitlines()
    return redact(lines[0] if lines else type(exc).__name__)


def _show(conn: psycopg.Connection[Any] | None, setting: str) -> str | None:
    if conn is None or conn.closed:
        return None
    try:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return None
        row = conn.execute("SELECT current_setting(%s)", (setting,)).fetchone()
        conn.rollback()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def refused_row(
    conn: psycopg.Connection[Any],
    records: Sequence[Any],
    refuses: type[psycopg.Error],
    write: Callable[[Sequence[Any]], object],
) -> int | None:
    """After PostgreSQL refused a batch with ``refuses``, the index of the record it refused, or ``None``.

    Bisects with savepoints inside a transaction that is always rolled back (nothing is
    written): about log2(batch) writes, only after a failure. ``None`` when no single
    record is refused (the limit is the batch's, not a row's).
    """
    lo, candidates = 0, list(records)
    try:
        with conn.transaction(force_rollback=True):
            while len(candidates) > 1:
                half = candidates[: len(candidates) // 2]
                try:
                    with conn.transaction():
                        write(half)
                    lo, candidates = lo + len(half), candidates[len(half) :]
                except refuses:
                    candidates = half
            if candidates:
                with conn.transaction():
                    write(candidates)
    except refuses:
        return lo if candidates else None
    except psycopg.Error:
        return None
    return None
