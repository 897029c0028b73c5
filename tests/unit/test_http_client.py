"""The run's HTTP client, without a network: deadlines on every pool, whole compressed bodies, the origin policy."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

from dailyfetch.errors import SourceError
from dailyfetch.fetch.client import IncompleteBody, check_complete
from dailyfetch.fetch.deadline import DeadlineBackend
from dailyfetch.fetch.http import build_client
from dailyfetch.fetch.origin import OriginPolicy, origin_of
from dailyfetch.redact import register_secret
from dailyfetch.stopping import StopToken

BODY = b'{"items": [' + b",".join(b'{"id": %d}' % i for i in range(50)) + b"]}"


def test_every_connection_pool_of_the_client_keeps_to_the_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own pool and each proxy mount's (from HTTPS_PROXY) open connections through the deadline backend."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = build_client(connect_timeout=1, read_timeout=1, stop=StopToken())
    transports = [client._transport, *client._mounts.values()]
    assert len(transports) >= 2
    for transport in transports:
        assert isinstance(transport, httpx.HTTPTransport)
        assert isinstance(transport._pool._network_backend, DeadlineBackend)
    client.close()


def _decoded(encoding: str, raw: bytes) -> httpx.Response:
    request = httpx.Request("GET", "https://api.test/items?token=t0k-secret-1")
    response = httpx.Response(200, headers={"Content-Encoding": encoding}, content=raw, request=request)
    response.read()
    return response


@pytest.mark.parametrize(
    "encoding, raw",
    [
        ("gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("identity", BODY),
    ],
)
def test_a_whole_body_passes(encoding: str, raw: bytes) -> None:
    """A complete gzip, zlib-deflate or plain body passes the check."""
    response = _decoded(encoding, raw)
    check_complete(response)
    assert response.content == BODY


@pytest.mark.parametrize(
    "encoding, raw",
    [
        ("gzip", gzip.compress(BODY)[:-8]),
        ("gzip", gzip.compress(BODY)[:-1]),
        ("gzip", gzip.compress(BODY)[: len(gzip.compress(BODY)) // 2]),
        ("deflate", zlib.compress(BODY)[:-4]),
        ("gzip, identity", gzip.compress(BODY)[:-8]),
    ],
    ids=["no trailer", "last byte cut", "half", "deflate without adler32", "in a list of codings"],
)
def test_a_compressed_body_cut_short_is_incomplete(encoding: str, raw: bytes) -> None:
    """A stream that did not reach its end (httpx decodes it without complaint) is IncompleteBody, truncated, URL masked."""
    with pytest.raises(IncompleteBody) as info:
        check_complete(_decoded(encoding, raw))
    assert info.value.truncated
    assert "https://api.test/items?token=***" in str(info.value) and "t0k-secret-1" not in str(info.value)


def test_bytes_after_the_end_of_a_gzip_stream_are_not_dropped_silently() -> None:
    """A second gzip member (httpx decodes only the first) is an error, not lost data."""
    with pytest.raises(IncompleteBody) as info:
        check_complete(_decoded("gzip", gzip.compress(BODY) + gzip.compress(BODY)))
    assert not info.value.truncated


def test_a_response_without_a_body_is_not_checked() -> None:
    """HEAD, 204 and 304 answers with Content-Encoding: gzip have no stream to end."""
    request = httpx.Request("HEAD", "https://api.test/items")
    response = httpx.Response(204, headers={"Content-Encoding": "gzip"}, content=b"", request=request)
    response.read()
    check_complete(response)


def _policy(**kwargs: object) -> OriginPolicy:
    origins = frozenset({origin_of(httpx.URL("https://api.test/v1"))})
    return OriginPolicy(origins=origins, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://api.test/v2/items", ()),
        ("https://api.test:443/items", ()),
        ("https://cdn.test/x", ("cdn.test",)),
        ("https://cdn.test:8443/x", ("cdn.test:8443",)),
        ("https://eu.files.test/x", ("*.files.test",)),
        ("http://[::1]:8080/x", ("[::1]:8080",)),
    ],
)
def test_the_origin_and_allowed_hosts_pass(url: str, allowed: tuple[str, ...]) -> None:
    """The job's origin (default port or not) and hosts named as host, host:port, *.domain or [IPv6] pass."""
    _policy(allowed_hosts=allowed).screen(httpx.Request("GET", url))


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("http://api.test/items", ()),  # another scheme is another origin
        ("https://api.test:8443/items", ()),
        ("https://api.test.evil.example/items", ()),
        ("https://files.test/x", ("*.files.test",)),  # the wildcard is for subdomains only
        ("https://cdn.test:8443/x", ("cdn.test:443",)),
    ],
)
def test_other_origins_are_refused(url: str, allowed: tuple[str, ...]) -> None:
    """Another scheme, port or host is refused, naming the key to set."""
    with pytest.raises(SourceError) as info:
        _policy(allowed_hosts=allowed).screen(httpx.Request("GET", url))
    assert "[source] allowed_hosts" in str(info.value)


def test_an_allowed_host_gets_no_credential() -> None:
    """Off the origin: no Authorization, Cookie, configured or secret-bearing header, no auth or secret query value."""
    register_secret("s3cret-key-99")
    policy = _policy(
        allowed_hosts=("cdn.test",),
        secret_headers=frozenset({"authorization", "cookie", "x-custom"}),
        secret_params=frozenset({"api_key"}),
    )
    request = httpx.Request(
        "GET",
        "https://cdn.test/x?api_key=whatever&sig=s3cret-key-99&page=2",
        headers={
            "Authorization": "Bearer abc",
            "Cookie": "a=b",
            "X-Custom": "plain",
            "X-Other": "has s3cret-key-99",
            "Accept": "application/json",
        },
    )
    policy.screen(request)
    assert dict(request.url.params) == {"page": "2"}
    assert {k.lower() for k in request.headers} == {"accept", "host"}
