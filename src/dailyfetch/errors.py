"""The one error hierarchy of dailyfetch.

Every error a user can meet derives from :class:`DailyfetchError`. Each one is
either *transient* (worth retrying: a timeout, a 503, a dropped connection) or
*permanent* (retrying cannot help: a bad config, a 404, a value that does not
fit its column). The CLI maps :class:`ConfigError` to exit code 2 and every
other error to exit code 1, and prints ``str(error)`` on one line.
"""

from __future__ import annotations


class DailyfetchError(Exception):
    """Base class of every dailyfetch error."""

    transient: bool = False
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(DailyfetchError):
    """The configuration or the command line is wrong. Exit code 2."""

    exit_code = 2


class SourceError(DailyfetchError):
    """Fetching from the source failed permanently (4xx, bad payload, bad record)."""


class TransientSourceError(SourceError):
    """Fetching failed in a way that may pass: timeouts, resets, 429, 5xx."""

    transient = True


class LoadError(DailyfetchError):
    """Writing to PostgreSQL failed permanently (a value that does not fit its column, a full disk, a limit).

    PostgreSQL's errors become one of these kinds by SQLSTATE in one place,
    :mod:`dailyfetch.dberrors`; the runner retries only the transient ones.
    """


class DatabaseUnavailableError(LoadError):
    """PostgreSQL could not be reached or the connection dropped. Transient: reconnect, then resume."""

    transient = True


class DatabaseConflictError(LoadError):
    """A deadlock or serialization failure rolled the transaction back. Transient: retry it."""

    transient = True


class ClaimLostError(DailyfetchError):
    """Another worker took over this partition; the batch was rolled back."""

    transient = True


class RunInterrupted(DailyfetchError):
    """The run stopped early (deadline or signal); progress is committed.

    ``exit_code`` is 143 after SIGTERM, 130 after SIGINT and 1 after a deadline.
    """

    transient = True

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
