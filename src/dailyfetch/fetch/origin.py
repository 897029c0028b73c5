"""Which origins a REST job's requests may reach, and what they may carry there.

An origin is a URL's scheme, host and port (RFC 6454). The job's own origins are
those of ``[source] url`` (rendered for each partition of the run) and of the OAuth2
``token_url``. A request for any other origin (a next-page URL from a body or a
``Link`` header, a redirect) fails, naming the URL and ``[source] allowed_hosts``,
unless that key names its host. An allowed host is sent the request without any
credential: no ``Authorization``, ``Proxy-Authorization`` or ``Cookie``, none of
``[source] headers``, not the ``[source.auth]`` header or query parameter, and no
header or query value that holds a registered secret.

:meth:`OriginPolicy.screen` is a request hook of the client, so it sees every request
as it is sent: the first one (after its auth flow added the credentials) and each
redirect that httpx follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from dailyfetch.config import SourceConfig
from dailyfetch.errors import SourceError
from dailyfetch.plan import RunPlan, render
from dailyfetch.redact import mask_url, redact

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def origin_of(url: httpx.URL) -> Origin:
    """``url``'s scheme, host and port (the scheme's default port when none is given)."""
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def _show(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if _DEFAULT_PORTS.get(scheme) == port else f":{port}")


@dataclass(frozen=True)
class OriginPolicy:
    """The job's origins, the other hosts it may reach, and which headers and parameters are credentials."""

    origins: frozenset[Origin]
    allowed_hosts: tuple[str, ...] = ()
    secret_headers: frozenset[str] = _CREDENTIAL_HEADERS
    secret_params: frozenset[str] = frozenset()

    def screen(self, request: httpx.Request) -> None:
        """Let a request to the job's origin pass; strip an allowed host's of credentials; refuse any other."""
        url = request.url
        origin = origin_of(url)
        if origin in self.origins:
            return
        if not self.allows(url):
            ours = ", ".join(sorted(_show(o) for o in self.origins))
            raise SourceError(
                f"refused to send a request to {mask_url(str(url))}: it is not on the job's origin ({ours})",
                hint=f'to follow it without credentials, add "{url.host}" to [source] allowed_hosts',
            )
        self._strip(request)

    def allows(self, url: httpx.URL) -> bool:
        """Whether ``[source] allowed_hosts`` names ``url``'s host (``host``, ``host:port`` or ``*.domain``)."""
        host = url.host.lower()
        port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
        for entry in self.allowed_hosts:
            if entry.startswith("*."):
                if host.endswith(entry[1:]):
                    return True
            elif entry in (host, f"{host}:{port}", f"[{host}]", f"[{host}]:{port}"):
                return True
        return False

    def _strip(self, request: httpx.Request) -> None:
        for name, value in list(request.headers.items()):
            if name.lower() in self.secret_headers or redact(value) != value:
                del request.headers[name]
        url = request.url
        for name, value in url.params.multi_items():
            if name in self.secret_params or redact(value) != value:
                url = url.copy_remove_param(name)
        request.url = url


def origin_policy(source: SourceConfig, plan: RunPlan) -> OriginPolicy | None:
    """The policy of a REST source in ``plan`` (``None`` for a Python source, whose code picks its URLs)."""
    if source.kind != "rest" or not source.url:
        return None
    urls = [_rendered(source.url, plan.variables(p)) for p in plan.partitions]
    auth = source.auth
    if auth is not None and auth.kind == "oauth2_client_credentials" and auth.token_url:
        urls.append(auth.token_url)
    headers = {name.lower() for name in source.headers}
    if auth is not None and auth.kind == "header" and auth.name:
        headers.add(auth.name.lower())
    params = (
        frozenset({auth.param}) if auth is not None and auth.kind == "query" and auth.param else frozenset()
    )
    return OriginPolicy(
        origins=frozenset(origin_of(httpx.URL(u)) for u in urls),
        allowed_hosts=tuple(h.lower() for h in source.allowed_hosts),
        secret_headers=_CREDENTIAL_HEADERS | headers,
        secret_params=params,
    )


def _rendered(template: str, variables: dict[str, object]) -> str:
    return render(template, {"since": "", **variables})  # {since} never names a host
