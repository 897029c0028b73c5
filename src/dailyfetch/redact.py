"""Keep secrets out of every output: logs, errors, the ledger and reports.

Secrets are registered once (when the config is read, when the database URL is
resolved) in a process-wide :class:`SecretRegistry`. Everything that leaves the
process as text passes through :func:`redact`, which replaces each registered
secret with ``***``. URLs are additionally masked by :func:`mask_url`: the
password in their userinfo and the values of query parameters whose names look
secret (``token``, ``api_key``, ``signature`` ...).

Each secret is registered with the forms it takes in text: URL-encoded (``%2F``
and ``+`` for spaces), base64 (how HTTP Basic carries ``user:password``),
JSON- and HTML-escaped. Values an API hands out in next-page URLs under
secret-looking names (``?token=``, ``?session=``) are redacted too, as *recent*
secrets (the last :data:`_RECENT` of them), without growing the registry per page.

Text is redacted before it is cut, never after (:func:`clip`): a secret cut in two no
longer matches, and its head would be shown. Where the input itself had to be cut
first (the first bytes of a body), :func:`redact_head` also drops a tail as long as the
longest registered form of a secret, so a secret cut at that end shows no part of itself.

Resumable state (a partition's progress) is *sealed* before the ledger stores it:
see :func:`seal`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from dailyfetch.secret_forms import MIN_SECRET_LENGTH, secret_forms

MASK = "***"

SENSITIVE_NAME = re.compile(
    r"(token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|signature|sig$|"
    r"private|session|cookie|dsn|database_url|access[-_]?key|client[-_]?secret|key$)",
    re.IGNORECASE,
)


_RECENT = 64  # server-issued values kept for redaction (a page's token is echoed by its own error)


class SecretRegistry:
    """The set of secret strings known to this process (and the values recently seen in URLs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._recent: deque[frozenset[str]] = deque(maxlen=_RECENT)
        self._pattern: re.Pattern[str] | None = None  # every form of every secret, recent ones too
        self._stable: re.Pattern[str] | None = None  # the registered secrets' forms only
        self._recent_pattern: re.Pattern[str] | None = None
        self.longest = 0  # the length of the longest form of any secret (see :func:`redact_head`)

    def add(self, value: str | None) -> None:
        """Register ``value`` (and every form of it, see :func:`secret_forms`) as a secret."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        forms = secret_forms(value)
        with self._lock:
            new = self._secrets | forms
            if new != self._secrets:
                self._secrets = new
                self._compile()

    def add_recent(self, value: str | None) -> None:
        """Redact ``value`` too (an API's token in a next-page URL); only the last few are kept."""
        if not value or len(value) < MIN_SECRET_LENGTH or value in self._secrets:
            return
        forms = frozenset(secret_forms(value))
        with self._lock:
            if forms not in self._recent:
                self._recent.append(forms)
                self._compile()

    def _compile(self) -> None:
        recent = frozenset().union(*self._recent) - self._secrets
        self.longest = max(map(len, self._secrets | recent), default=0)
        self._stable = _alternation(self._secrets)
        self._recent_pattern = _alternation(recent)
        self._pattern = _alternation(self._secrets | recent)

    def clear(self) -> None:
        """Forget every secret (used between runs in one process, and by tests)."""
        with self._lock:
            self._secrets = frozenset()
            self._recent.clear()
            self._pattern = self._stable = self._recent_pattern = None
            self.longest = 0

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_head(self, text: str) -> str:
        """``text``, the head of a longer text, redacted, without the tail a secret cut short may start in."""
        pattern, keep = self._pattern, len(text) - self.longest
        if pattern is None or not text:
            return text
        out, at = [], 0
        for match in pattern.finditer(text):
            if match.start() >= keep:
                break
            out += [text[at : match.start()], MASK]
            at = match.end()
        out.append(text[at : max(at, keep)])
        return "".join(out)

    def __contains__(self, value: object) -> bool:
        return value in self._secrets


def _alternation(values: frozenset[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


REGISTRY = SecretRegistry()


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``."""
    return REGISTRY.redact(text)


def redact_head(text: str) -> str:
    """Redact ``text``, which was cut from a longer one before it could be redacted (a body's first bytes).

    Every secret it holds whole is masked. A secret cut short at its end would not
    match, so the last :attr:`SecretRegistry.longest` characters are dropped: a cut
    secret starts in them (a secret that starts earlier and ends in them is masked whole).
    """
    return REGISTRY.redact_head(text)


def clip(text: str, limit: int, *, more: bool = False) -> str:
    """``text`` redacted, then cut to at most ``limit`` characters, ``…`` ending it if it was cut (or ``more``).

    Redacting first means no part of a secret is shown: cutting first would leave the
    head of a secret across the limit, which no longer matches.
    """
    text = redact(text)
    if len(text) <= limit and not more:
        return text
    return text[: max(limit - 1, 0)] + "…"


def register_secret(value: str | None) -> None:
    """Register a secret with the process-wide registry."""
    REGISTRY.add(value)


def register_recent(value: str | None) -> None:
    """Redact a value an API handed out (a token in a next-page URL), keeping only the last few."""
    REGISTRY.add_recent(value)


def _loose_password(url: str) -> str | None:
    """The password of ``scheme://user:password@host...`` even when it holds an unencoded ``/ ? #``.

    :func:`urllib.parse.urlsplit` (like libpq) ends the authority at the first ``/``, so
    ``postgresql://me:pa/ss@db/x`` has no userinfo for it and ``pa`` becomes the port:
    the last ``@`` is taken instead, when the parsed authority has none.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or "@" not in rest or "@" in rest.split("/", 1)[0].split("?", 1)[0]:
        return None
    userinfo = rest[: rest.rfind("@")]
    user, colon, password = userinfo.partition(":")
    if re.search(r"[/?#]", user):
        return None  # not userinfo: an '@' further on, in a path or a query
    return password if colon and password else None


def mask_url(url: str) -> str:
    """Mask the password and secret-looking query values of ``url``, then redact it."""
    loose = _loose_password(url)
    if loose is not None:  # the URL does not parse as its writer meant: hide all of its userinfo
        register_secret(unquote(loose))
        register_secret(loose)
        scheme, _, rest = url.partition("://")
        user = rest[: rest.rfind("@")].partition(":")[0]
        return redact(f"{scheme}://{user}:{MASK}@{rest[rest.rfind('@') + 1 :]}")
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


_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def register_url_secrets(url: str) -> None:
    """Register the password and secret-looking query values found in ``url``.

    Also a password the URL's parse misses (an unencoded ``/``, see :func:`_loose_password`)
    and one in a ``key=value`` connection string (``host=db password=...``).
    """
    loose = _loose_password(url)
    if loose is not None:
        register_secret(loose)
        register_secret(unquote(loose))
    keyword = _KEYWORD_PASSWORD.search(url)
    if keyword is not None:
        value = keyword.group(1)
        register_secret(value)
        if value.startswith("'"):
            register_secret(re.sub(r"\\(.)", r"\1", value[1:-1]))
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secret(unquote(parts.password))
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if SENSITIVE_NAME.search(key) or key == "password":
            register_secret(value)


def register_issued_params(params: dict[str, object] | None) -> None:
    """Like :func:`register_issued_secrets`, for query parameters given apart (a cursor sent as ``page_token``)."""
    for key, value in (params or {}).items():
        if isinstance(value, str) and SENSITIVE_NAME.search(key):
            register_recent(value)


def register_issued_secrets(url: str) -> None:
    """Redact the values of ``url``'s secret-looking query parameters as recent secrets (see :func:`register_recent`).

    For URLs an API hands out: a next page's ``?token=`` is echoed back by its own error
    body. Cheap for the usual URL with no such parameter.
    """
    _, _, query = url.partition("?")
    if not query or not SENSITIVE_NAME.search(query):
        return
    for key, value in parse_qsl(query.partition("#")[0], keep_blank_values=True):
        if SENSITIVE_NAME.search(key):
            register_recent(value)
            register_recent(quote(value, safe=""))


_SEALED = re.compile(r"\{\{dailyfetch-secret:([0-9a-f]{16})\}\}")
_ENCRYPTED = re.compile(r"\{\{dailyfetch-sealed:([A-Za-z0-9_-]+)\}\}")
_MARKER = re.compile(r"\{\{dailyfetch-(?:secret|sealed):[A-Za-z0-9_-]+\}\}")
# A query parameter in (JSON) text: its value ends at '&', '#', whitespace or the string's quote.
_URL_PARAM = re.compile(r'(?<=[?&])([^=&#"\s\\?]+)=((?:[^&#"\s\\]|\\.)*)')


def _derive(material: str) -> bytes:
    return hashlib.sha256(b"dailyfetch-seal\0" + material.encode()).digest()


_seal_key = _derive("")


def use_seal_key(database_url: str) -> None:
    """Seal with a key derived from ``database_url``'s password (see :func:`seal`)."""
    global _seal_key
    password = _loose_password(database_url)
    keyword = _KEYWORD_PASSWORD.search(database_url)
    if password is None and keyword is not None:
        password = keyword.group(1)
    if password is None:
        try:
            password = urlsplit(database_url).password
        except ValueError:
            password = None
    _seal_key = _derive(unquote(password or ""))


def _keystream(tag: bytes, size: int) -> bytes:
    blocks = (
        hmac.new(_seal_key, b"enc\0" + tag + i.to_bytes(4, "big"), "sha256").digest()
        for i in range((size + 31) // 32)
    )
    return b"".join(blocks)[:size]


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def _encrypt(plain: str) -> str:
    data = plain.encode()
    tag = hmac.new(_seal_key, b"tag\0" + data, "sha256").digest()[:16]  # synthetic IV: also the MAC
    blob = base64.urlsafe_b64encode(tag + _xor(data, _keystream(tag, len(data)))).decode().rstrip("=")
    return "{{dailyfetch-sealed:" + blob + "}}"


def _decrypt(match: re.Match[str]) -> str:
    blob = match.group(1)
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    tag, body = raw[:16], raw[16:]
    data = _xor(body, _keystream(tag, len(body)))
    if not hmac.compare_digest(tag, hmac.new(_seal_key, b"tag\0" + data, "sha256").digest()[:16]):
        from dailyfetch.errors import ConfigError

        raise ConfigError(
            "saved progress was sealed with another key (the database password changed since)",
            hint="re-run with --force to start the date again",
        )
    return data.decode()


def _outside_markers(
    pattern: re.Pattern[str] | None, replace: Callable[[re.Match[str]], str], text: str
) -> str:
    """``pattern.sub(replace, ...)`` on the parts of ``text`` that are not already sealed."""
    if pattern is None:
        return text
    out, at = [], 0
    for marker in _MARKER.finditer(text):
        out += [pattern.sub(replace, text[at : marker.start()]), marker.group(0)]
        at = marker.end()
    out.append(pattern.sub(replace, text[at:]))
    return "".join(out)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _reference(match: re.Match[str]) -> str:
    return "{{dailyfetch-secret:" + _digest(match.group(0)) + "}}"


def seal(text: str) -> str:
    """Make ``text`` safe to store: no secret in it, yet :func:`unseal` restores it exactly.

    Used for resumable state (a partition's progress: a next-page URL may carry an
    API key, or a token the API issued). In order:

    1. the values of secret-looking query parameters in URLs (``?token=``,
       ``&session=``) that are not the job's own secrets, and then every recent
       secret (:func:`register_issued_secrets`: a token sent as a cursor), are
       encrypted (HMAC-SHA256 keystream with a synthetic IV that is also the MAC), with
       a key derived from the database password (:func:`use_seal_key`): who can read
       the ledger but not that password cannot read them (with a passwordless
       database this is obfuscation only);
    2. the job's own secrets (registered from the environment) become references
       to them, restored from this process's environment.
    """
    stable = REGISTRY._stable

    def seal_param(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if not value or not SENSITIVE_NAME.search(unquote(name)):
            return match.group(0)
        if stable is not None and stable.fullmatch(value):
            return match.group(0)  # the job's own secret: referenced below
        return f"{name}={_encrypt(value)}"

    if "=" in text:
        text = _outside_markers(_URL_PARAM, seal_param, text)
    text = _outside_markers(REGISTRY._recent_pattern, lambda m: _encrypt(m.group(0)), text)
    return _outside_markers(stable, _reference, text)


def unseal(text: str) -> str:
    """Restore what :func:`seal` replaced: secrets from this process, sealed values with the key."""
    if "{{dailyfetch-" not in text:
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

    return _ENCRYPTED.sub(_decrypt, _SEALED.sub(restore, text))
