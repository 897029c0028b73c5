"""Keep secrets out of every output: logs, errors, the ledger and reports.

Secrets are registered once (when the config is read, when the database URL is
resolved) in a process-wide :class:`SecretRegistry`. Everything that leaves the
process as text passes through :func:`redact`, which replaces each registered
secret with ``***``. URLs are additionally masked by :func:`mask_url`: the
password in their userinfo and the values of query parameters whose names look
secret (``token``, ``api_key``, ``signature`` ...).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
_MIN_SECRET_LENGTH = 4

SENSITIVE_NAME = re.compile(
    r"(token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|signature|sig$|"
    r"private|session|cookie|dsn|database_url|access[-_]?key|client[-_]?secret|key$)",
    re.IGNORECASE,
)


class SecretRegistry:
    """The set of secret strings known to this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        """Register ``value`` (and its URL-encoded form) as a secret."""
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        forms = {value, quote(value, safe=""), quote(value)}
        if value.lower().startswith(("bearer ", "basic ", "token ")):
            forms.add(value.split(" ", 1)[1])
        forms = {f for f in forms if len(f) >= _MIN_SECRET_LENGTH}
        with self._lock:
            new = self._secrets | forms
            if new != self._secrets:
                self._secrets = new
                ordered = sorted(new, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def clear(self) -> None:
        """Forget every secret (used between runs in one process, and by tests)."""
        with self._lock:
            self._secrets = frozenset()
            self._pattern = None

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def __contains__(self, value: object) -> bool:
        return value in self._secrets


REGISTRY = SecretRegistry()


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``."""
    return REGISTRY.redact(text)


def register_secret(value: str | None) -> None:
    """Register a secret with the process-wide registry."""
    REGISTRY.add(value)


def mask_url(url: str) -> str:
    """Mask the password and secret-looking query values of ``url``, then redact it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, password = userinfo.partition(":")
        if sep and password:
            register_secret(unquote(password))
            netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if SENSITIVE_NAME.search(k) and v else v) for k, v in pairs]
        query = urlencode(masked, safe="*/:,")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def register_url_secrets(url: str) -> None:
    """Register the password and secret-looking query values found in ``url``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secret(unquote(parts.password))
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if SENSITIVE_NAME.search(key) or key == "password":
            register_secret(value)


_SEALED = re.compile(r"\{\{dailyfetch-secret:([0-9a-f]{16})\}\}")


def _digest(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()[:16]


def seal(text: str) -> str:
    """Replace each secret in ``text`` with a reference that :func:`unseal` can restore.

    Used for resumable state (a next-page URL may carry an API key): the ledger
    stores the reference, never the secret, and the running process restores it
    from its own environment.
    """
    pattern = REGISTRY._pattern
    if pattern is None:
        return text
    return pattern.sub(lambda m: "{{dailyfetch-secret:" + _digest(m.group(0)) + "}}", text)


def unseal(text: str) -> str:
    """Restore the secrets :func:`seal` replaced, from the secrets known to this process."""
    if "{{dailyfetch-secret:" not in text:
        return text
    known = {_digest(s): s for s in REGISTRY._secrets}

    def restore(match: re.Match[str]) -> str:
        try:
            return known[match.group(1)]
        except KeyError:
            from dailyfetch.errors import ConfigError

            raise ConfigError(
                "saved progress refers to a secret this process does not have",
                hint="the secret changed; re-run with --force to start the date again",
            ) from None

    return _SEALED.sub(restore, text)
