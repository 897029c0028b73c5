"""Authentication kinds for REST sources, as :class:`httpx.Auth` flows.

``[source.auth]`` takes one of::

    { kind = "bearer", token = "${API_TOKEN}" }
    { kind = "header", name = "X-Api-Key", value = "${API_KEY}" }
    { kind = "query", param = "api_key", value = "${API_KEY}" }
    { kind = "basic", username = "${API_USER}", password = "${API_PASSWORD}" }
    { kind = "oauth2_client_credentials", token_url = "...", client_id = "${ID}",
      client_secret = "${SECRET}", scope = "read" }

Every secret comes from the environment and is registered for redaction when
the config is read. OAuth2 tokens are fetched on first use, cached until shortly
before they expire, and refreshed once when the API answers 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any

import httpx
import orjson

from dailyfetch.config import AuthConfig
from dailyfetch.errors import SourceError, TransientSourceError
from dailyfetch.fetch.client import DailyfetchClient
from dailyfetch.redact import mask_url, redact, register_secret


class _HeaderAuth(httpx.Auth):
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.name] = self.value
        yield request


class _QueryAuth(httpx.Auth):
    def __init__(self, param: str, value: str) -> None:
        self.param, self.value = param, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_set_param(self.param, self.value)
        yield request


class OAuth2ClientCredentials(httpx.Auth):
    """The OAuth2 client-credentials grant, with the token cached and refreshed on expiry."""

    requires_response_body = True
    _EARLY = 30.0  # refresh this many seconds before the token expires

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        self.token_url, self.client_id, self.client_secret, self.scope = (
            token_url,
            client_id,
            client_secret,
            scope,
        )
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.fetched = 0

    def _fetch_token(self) -> str:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        try:  # within the deadline of the request that needs the token (see fetch/deadline.py)
            with DailyfetchClient(timeout=30) as client:
                response = client.post(self.token_url, data=data, auth=(self.client_id, self.client_secret))
        except httpx.HTTPError as exc:
            raise TransientSourceError(
                f"cannot reach the OAuth2 token endpoint {mask_url(self.token_url)}: {redact(str(exc))}"
            ) from None
        if response.status_code >= 400:
            kind = TransientSourceError if response.status_code >= 500 else SourceError
            raise kind(
                f"OAuth2 token request to {mask_url(self.token_url)} failed with HTTP {response.status_code}"
            )
        try:
            body: dict[str, Any] = orjson.loads(response.content)
            token = str(body["access_token"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise SourceError(
                f"OAuth2 token endpoint {mask_url(self.token_url)} returned no access_token"
            ) from None
        register_secret(token)
        self._expires = time.monotonic() + float(body.get("expires_in", 3600)) - self._EARLY
        self.fetched += 1
        return token

    def token(self, *, refresh: bool = False) -> str:
        """A valid access token (fetched when missing, expired, or ``refresh``)."""
        with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._expires:
                self._token = self._fetch_token()
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(refresh=True)}"
            yield request


def build_auth(config: AuthConfig | None) -> httpx.Auth | None:
    """The :class:`httpx.Auth` for ``[source.auth]``, or ``None``."""
    if config is None:
        return None
    if config.kind == "bearer":
        return _HeaderAuth("Authorization", f"Bearer {config.token}")
    if config.kind == "header":
        return _HeaderAuth(config.name or "", config.value or "")
    if config.kind == "query":
        return _QueryAuth(config.param or "", config.value or "")
    if config.kind == "basic":
        # RFC 7617 sends base64(user:password): registered, so an API echoing the header is redacted
        register_secret(f"{config.username or ''}:{config.password or ''}")
        return httpx.BasicAuth(config.username or "", config.password or "")
    return OAuth2ClientCredentials(
        config.token_url or "", config.client_id or "", config.client_secret or "", config.scope
    )
