"""A lean HTTP/1.1 client for the ``openai`` provider's hot path: POSTs of a JSON body to one
``http://`` origin (a vLLM, SGLang, llama.cpp or Ollama server next to the run) over keep-alive
connections.

A model call is one small request and one small reply, and a run makes millions of them: aiohttp's
general machinery (URL and header objects, payload writers, tracing hooks, timers, cookie and proxy
logic) costs about 0.1 ms of CPU per request, several times the cost of the bytes themselves. This
client writes the request head from a template made once and reads the reply with a small
incremental parser (``Content-Length``, chunked, or until the server closes), about a third of
that. It is used for plain-HTTP, non-streamed calls only; TLS, streaming (server-sent events) and
everything else stay with aiohttp.

Failures are ``OSError``s (``ConnectionError`` for a reply cut short or not HTTP), as the socket
calls raise them; the caller bounds each request with its own timeout. A request that was
cancelled or failed closes its connection (a server generating the reply learns that nobody waits
for it); only connections whose reply was read in full go back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from palaestra.errors import UsageError

MAX_HEAD = 64 * 1024
"""Most bytes of a reply's status line and headers."""
IDLE_SECONDS = 60.0
"""How long an idle keep-alive connection is kept."""


class ServerDisconnected(ConnectionError):
    """The server closed the connection before its reply was complete."""


class BadResponse(ConnectionError):
    """What came back is not an HTTP/1.x reply."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    """Header names in lower case (a repeated header keeps its last value)."""
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters (``application/json``)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()


def plain_http(url: str) -> bool:
    """Whether this client can talk to ``url``: ``http://`` without credentials in the URL."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False  # aiohttp reports it
    return parts.scheme == "http" and bool(parts.hostname) and "@" not in parts.netloc


class HTTPPool:
    """Keep-alive connections to the origin of ``url``, POSTing JSON bodies to ``url``.

    ``headers`` go with every request (``Host`` and ``Content-Length`` are set here). At most
    ``max_idle`` idle connections are kept, each for :data:`IDLE_SECONDS`. Bound to the event loop
    it is first used on; one request per connection at a time.
    """

    def __init__(self, url: str, headers: dict[str, str], max_idle: int) -> None:
        if not plain_http(url):
            raise UsageError(f"HTTPPool takes http:// URLs without credentials, got {url!r}")
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}"]
        skip = {"host", "content-length", "transfer-encoding", "connection"}
        for name, value in headers.items():
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise UsageError(f"HTTP header {name!r} contains a line break")
            if name.lower() not in skip:
                lines.append(f"{name}: {value}")
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()
        self.max_idle = max_idle
        self._idle: deque[tuple[float, _Connection]] = deque()
        self._busy: set[_Connection] = set()
        self.opened = 0
        """Connections opened so far (a pool that reuses them opens few)."""

    async def post(self, body: bytes) -> Reply:
        """POST ``body``; the reply, whatever its status. Raises ``OSError`` when no complete
        reply came back."""
        conn = self._take() or await self._connect()
        self._busy.add(conn)
        done = False
        try:
            reply, keep = await conn.exchange(self._head + b"%d\r\n\r\n" % len(body) + body)
            done = True
        finally:
            self._busy.discard(conn)
            if not done:
                conn.abort()
        if keep and len(self._idle) < self.max_idle:
            self._idle.append((asyncio.get_running_loop().time(), conn))
        else:
            conn.abort()
        return reply

    def _take(self) -> _Connection | None:
        """The most recently used idle connection still open, dropping those idle too long."""
        now = asyncio.get_running_loop().time()
        idle = self._idle
        while idle and now - idle[0][0] > IDLE_SECONDS:
            idle.popleft()[1].abort()
        while idle:
            conn = idle.pop()[1]
            if conn.usable:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        self.opened += 1
        return conn

    def close(self) -> None:
        """Close every connection (a request under way fails)."""
        for _, conn in self._idle:
            conn.abort()
        for conn in self._busy:
            conn.abort()
        self._idle.clear()
        self._busy.clear()


class _Connection(asyncio.Protocol):
    """One connection: sends a request, parses the reply as its bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[Reply, bool]] | None = None
        self._head: tuple[int, dict[str, str], int, bool] | None = None
        """Status, headers, where the body starts and whether the reply is HTTP/1.0, once the head is in."""
        self._eof = False
        self._lost: BaseException | None = None

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self._eof and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    async def exchange(self, request: bytes) -> tuple[Reply, bool]:
        """Send ``request``; the reply, and whether the connection may carry another request."""
        assert self.transport is not None
        self._buf.clear()
        self._head = None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():  # bytes nobody asked for: not reusable
            self._eof = True
            return
        self._buf += data
        self._advance()

    def eof_received(self) -> bool:
        self._eof = True
        self._advance()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc
        self._advance()
        self.transport = None

    def abort(self) -> None:
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed: the socket dies with it
                self.transport.abort()

    def _advance(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            result = self._parse()
        except ConnectionError as e:
            waiter.set_exception(e)
            return
        if result is not None:
            waiter.set_result(result)
        elif self._eof:
            cause = f": {self._lost}" if self._lost else ""
            waiter.set_exception(
                ServerDisconnected(f"the server closed the connection before the reply was complete{cause}")
            )

    def _parse(self) -> tuple[Reply, bool] | None:
        """The reply once it is complete in the buffer, else None."""
        if self._head is None:
            self._head = _parse_head(self._buf)
            if self._head is None:
                return None
        status, headers, start, old = self._head
        if status == 204 or status == 304:
            body: bytes | None = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = _dechunk(self._buf, start)
        elif "content-length" in headers:
            length = _length(headers["content-length"])
            body = bytes(self._buf[start : start + length]) if len(self._buf) - start >= length else None
        else:  # the body runs until the server closes the connection
            body = bytes(self._buf[start:]) if self._eof else None
            return None if body is None else (Reply(status, headers, body), False)
        if body is None:
            return None
        connection = headers.get("connection", "").lower()
        keep = ("keep-alive" in connection if old else "close" not in connection) and not self._eof
        return Reply(status, headers, body), keep


def _parse_head(buf: bytearray) -> tuple[int, dict[str, str], int, bool] | None:
    """Status, headers, the offset of the body and whether the reply is HTTP/1.0 (which closes
    the connection unless it says ``keep-alive``), once the whole head is in ``buf``; interim (1xx)
    replies before it are skipped."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise BadResponse(f"reply head over {MAX_HEAD} bytes")
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadResponse(f"not an HTTP/1.x reply: {lines[0][:80]!r}")
        status = int(code)
        if 100 <= status < 200:
            del buf[: end + 4]
            continue
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadResponse(f"malformed header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        return status, headers, end + 4, version == "HTTP/1.0"


def _length(value: str) -> int:
    if not value.isdigit():
        raise BadResponse(f"bad Content-Length: {value[:40]!r}")
    return int(value)


def _dechunk(buf: bytearray, start: int) -> bytes | None:
    """The body of a chunked reply that starts at ``start``, once its last chunk is in."""
    parts: list[bytes] = []
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).partition(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadResponse(f"bad chunk size: {size_text[:40]!r}") from None
        if size == 0:  # the last chunk, then optional trailers, then an empty line
            return b"".join(parts) if buf.find(b"\r\n\r\n", eol) >= 0 else None
        begin = eol + 2
        if len(buf) < begin + size + 2:
            return None
        parts.append(bytes(buf[begin : begin + size]))
        pos = begin + size + 2
