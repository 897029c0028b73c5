"""A raw-socket HTTP/1.1 server for protocol faults http.server cannot produce.

Each connection's request head is parsed (request line, headers) and recorded; the
handler then writes whatever bytes it likes to the socket: a body one byte at a time,
a gzip stream cut short, a redirect. Nothing here knows dailyfetch.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class RawRequest:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        """The target's path."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The target's query parameters."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


Handler = Callable[["RawServer", socket.socket, RawRequest], None]


@dataclass
class RawServer:
    """Listen on 127.0.0.1 at a free port; hand each request to ``handler`` with its socket."""

    handler: Handler
    requests: list[RawRequest] = field(default_factory=list)
    sent: int = 0  # body bytes the handlers reported as written (see :meth:`count`)
    _sock: socket.socket | None = None
    _port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def closed(self) -> threading.Event:
        """Set when :meth:`stop` was called (handlers that drip bytes end on it)."""
        return self._closed

    def count(self, n: int = 1) -> None:
        """Record that ``n`` more body bytes reached the socket."""
        with self._lock:
            self.sent += n

    def start(self) -> Self:
        """Listen and accept in a daemon thread."""
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting and tell handlers to stop."""
        self._closed.set()
        if self._sock is not None:
            self._sock.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                request = RawRequest(method, target, headers)
                with self._lock:
                    self.requests.append(request)
                self.handler(self, conn, request)
        except OSError:
            return
        finally:
            conn.close()


def response_head(status: int, headers: dict[str, str], reason: str = "OK") -> bytes:
    """An HTTP/1.1 status line and header block, ready to write."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
