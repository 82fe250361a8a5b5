"""The proxy's own HTTP/1.1 client: pooled keep-alive connections, answers parsed by httptools.

Why not a general client: on the gateway's hot path, aiohttp's client costs about three times
the CPU of everything else a proxied request does (profile and figures in gateway/README.md).
A proxy needs a small part of what it offers: one request at a time per connection, bodies
passed through untouched, no redirects, cookies or decompression. What is left is framing and
pooling, here; parsing is llhttp's (through httptools, the parser uvicorn serves with).

- One pool per origin (scheme, host, port), at most `limit` requests in flight on it; the most
  recently used idle connection is taken first; idle ones past `keepalive_s` are closed
  whenever a connection goes back to the pool.
- `timeout_s` bounds every wait on the upstream (connect aside): nothing received for that
  long while an answer is due is a timeout, as with aiohttp's `sock_read`. Waits on the
  caller do not count: its next chunk of a streamed request body, or its reading of an
  answer whose buffer is full (reading is paused meanwhile).
- A buffered request body goes to the transport whole, at once. A streamed one goes out
  beside the wait for the answer (an upstream may answer before reading all of it, or while
  reading it), chunked unless the caller gave its Content-Length, which it must then match.
- Answers stream: `send` returns at the end of the headers. The caller reads the body or
  calls `release()`; an answer left unread closes its connection rather than hold it.
- A connection is reused only after a complete answer that allows it to a request that went
  out whole. It is closed when an answer stops midway, when the caller leaves early, and after
  a 4xx/5xx to a request with a body (the upstream may not have read it all: an early 413
  from gunicorn says keep-alive and then drops the connection).
- A GET, HEAD or OPTIONS that fails on a reused connection before any byte of the answer came
  back is sent once more on a new connection: the upstream closed an idle connection as the
  request went out on it. Other methods are not (they may have been performed): upstreams
  must keep idle connections longer than `keepalive_s` (the runner's keep them 75 s).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from gateway.upstream import (
    Headers,
    UpstreamBroken,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)

RETRIED_ON_STALE = frozenset({"GET", "HEAD", "OPTIONS"})
NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})
FRAMING = frozenset({"content-length", "transfer-encoding"})
PAUSE_ABOVE = 256 * 1024  # bytes of answer buffered before reading pauses


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int
    authority: str  # the Host header

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def split_url(url: str) -> tuple[str, str]:
    """(scheme://authority, request target); the target is the path and query byte for byte."""
    start = url.find("//") + 2
    end = min((i for i in (url.find("/", start), url.find("?", start)) if i != -1), default=-1)
    if end == -1:
        return url, "/"
    target = url[end:]
    return url[:end], target if target[0] == "/" else "/" + target


def parse_origin(origin: str) -> Origin:
    """Once per origin: `Http1Upstream` keeps a pool per origin string."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamUnreachable(f"not an http(s) URL: {origin[:100]}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UpstreamUnreachable(f"bad port in {origin[:100]}") from exc
    return Origin(parts.scheme, parts.hostname, port, parts.netloc.rpartition("@")[2])


def request_head(
    method: str, target: str, origin: Origin, headers: Headers, body: bytes | None
) -> bytes:
    """The request line and headers. `body` bytes: framed here with Content-Length (any
    framing header of the caller's is dropped); None: streamed, chunked unless the caller
    gave a Content-Length."""
    lines = [f"{method} {target} HTTP/1.1\r\n", f"Host: {origin.authority}\r\n"]
    sized = False
    for name, value in headers:
        lower = name.lower()
        if lower in FRAMING:
            if body is not None or lower == "transfer-encoding":
                continue
            sized = True
        lines.append(f"{name}: {value}\r\n")
    if body is not None:
        if body or method not in NO_BODY_METHODS:
            lines.append(f"Content-Length: {len(body)}\r\n")
    elif not sized:
        lines.append("Transfer-Encoding: chunked\r\n")
    lines.append("\r\n")
    head = "".join(lines)
    # A CR or LF inside a header would split it into two: every line must be one of ours.
    if head.count("\n") != len(lines) or head.count("\r") != len(lines):
        raise UpstreamUnreachable("a header name or value holds a line break")
    return head.encode("latin-1")


class Answer:
    """The upstream's answer to one request, as it arrives on a connection."""

    def __init__(self, conn: Connection, timeout_s: float, head_only: bool, sent_body: bool):
        self.conn = conn
        self.timeout_s = timeout_s
        self.head_only = head_only  # an answer to HEAD: no body, whatever it declares
        self.sent_body = sent_body
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received = False  # any byte of it
        self.request_sent = False  # every byte of the request is in the transport
        self.waiting_for_caller = False  # on the caller's next chunk of the request body
        self.writer: asyncio.Task[None] | None = None  # a streamed request body going out
        self.complete = False
        self.error: UpstreamError | None = None
        self.ended = False  # the connection was handed back or closed: exactly once
        loop = conn.loop
        self._headers_done: asyncio.Future[None] = loop.create_future()
        self._more: asyncio.Future[None] | None = None
        self.last_activity = loop.time()
        self._timer = loop.call_at(self.last_activity + timeout_s, self._check_stall)

    @property
    def has_headers(self) -> bool:
        return self._headers_done.done()

    # -- fed by the connection ------------------------------------------------

    def headers_complete(self, status: int) -> None:
        self.status = status
        self._headers_done.set_result(None)
        if self.head_only:
            self.message_complete(keep_alive=False)  # the parser would wait for a body

    def body(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > PAUSE_ABOVE:
            self.conn.pause()
        self._wake()

    def message_complete(self, keep_alive: bool) -> None:
        if self.complete or self.error is not None:
            return
        self.complete = True
        # Reused only once the whole request went out (an answer can come before the end
        # of a streamed body: the upstream would take the next request for the rest of it),
        # and not after a 4xx/5xx to a body, which the upstream may not have read at all.
        failed_body = self.sent_body and self.status >= 400
        self._end(reuse=keep_alive and self.request_sent and not failed_body)
        self._wake()

    def fail(self, error: UpstreamError) -> None:
        """The answer cannot complete; the connection is closed."""
        if self.complete or self.error is not None:
            return
        self.error = error
        self._end(reuse=False)
        if not self._headers_done.done():
            self._headers_done.set_exception(error)
            self._headers_done.exception()  # retrieved: a caller that left must not warn
        self._wake()

    def abandon(self) -> None:
        """The caller stopped reading (left, cancelled or failed): close unless complete."""
        self.fail(UpstreamBroken("the caller left before the end of the answer"))

    # -- read by the caller ---------------------------------------------------

    async def headers_ready(self) -> None:
        await self._headers_done

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            while True:
                if self.chunks:
                    data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
                    self.chunks.clear()
                    self.buffered = 0
                    if not self.ended:  # else the connection is another answer's, or closed
                        self.conn.resume()
                    yield data
                elif self.error is not None:
                    raise self.error
                elif self.complete:
                    return
                else:
                    self._more = self.conn.loop.create_future()
                    await self._more
        finally:
            self.abandon()

    # -- internals ------------------------------------------------------------

    def _wake(self) -> None:
        more, self._more = self._more, None
        if more is not None and not more.done():
            more.set_result(None)

    def written(self, writer: asyncio.Task[None]) -> None:
        """The streamed request body went out whole, or could not."""
        if writer.cancelled():
            return
        error = writer.exception()
        if error is None:
            self.request_sent = True
            return
        if isinstance(error, UpstreamError):
            self.fail(error)
        else:  # the caller's body broke off (its client left, say)
            self.fail(UpstreamBroken(f"the request body could not be sent whole: {error!r}"))

    def _check_stall(self) -> None:
        if self.ended:
            return
        loop = self.conn.loop
        if self.conn.paused or self.waiting_for_caller:
            # Waiting on the caller, not on the upstream: reading paused until the caller
            # takes what is buffered, or the caller's next chunk of the request body.
            self.last_activity = loop.time()
        due = self.last_activity + self.timeout_s
        if due > loop.time():
            self._timer = loop.call_at(due, self._check_stall)
            return
        what = "the answer stalled" if self.has_headers else "no answer"
        self.fail(UpstreamTimeout(f"{what} for {self.timeout_s} s"))

    def _end(self, reuse: bool) -> None:
        if self.ended:
            return
        self.ended = True
        self._timer.cancel()
        if self.writer is not None and not self.writer.done():
            self.writer.cancel()
        self.conn.finished(reuse)


class UnexpectedBytes(Exception):
    """The upstream sent bytes while no request was waiting for them."""


class Connection(asyncio.Protocol):
    """One connection of a pool: carries one request and its answer at a time."""

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.answer: Answer | None = None
        self.closed = False
        self.paused = False
        self.idle_since = 0.0
        self.used = 0  # requests carried so far
        self._parser = httptools.HttpResponseParser(self)
        self._writable: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is not None:
            answer.received = True
            answer.last_activity = self.loop.time()
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # Not HTTP, or more than the one answer asked for: the connection cannot be trusted.
            # The answer fails first, with that reason (closing under it would give another).
            if answer is not None:
                answer.fail(UpstreamBroken(f"the upstream's answer is not valid HTTP: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        self.resume_writing()
        answer = self.answer
        if answer is None:
            return
        if exc is None and self._until_close(answer):
            answer.message_complete(keep_alive=False)  # a body delimited by the close
        else:
            reason = f": {exc}" if exc else ""
            answer.fail(UpstreamBroken(f"the upstream closed the connection midway{reason}"))

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # -- httptools callbacks --------------------------------------------------

    def on_message_begin(self) -> None:
        if self.answer is None:
            raise UnexpectedBytes

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.answer is not None
        self.answer.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self.answer is not None
        status = self._parser.get_status_code()
        if status < 200:  # interim (100 Continue, 103 Early Hints): the final one follows
            self.answer.headers.clear()
            return
        self.answer.headers_complete(status)

    def on_body(self, chunk: bytes) -> None:
        if self.answer is not None:
            self.answer.body(chunk)

    def on_message_complete(self) -> None:
        answer = self.answer
        if answer is not None and answer.has_headers:  # not the end of an interim answer
            answer.message_complete(self._parser.should_keep_alive())

    # -- used by the pool and the answer --------------------------------------

    def start(self, timeout_s: float, head_only: bool, sent_body: bool) -> Answer:
        self.used += 1
        self.answer = Answer(self, timeout_s, head_only, sent_body)
        return self.answer

    def send(self, data: bytes) -> None:
        """All of it to the transport, which buffers what the socket does not take yet."""
        assert self.transport is not None
        self.transport.write(data)

    async def write(self, data: bytes) -> None:
        """`send`, then wait while the transport holds more than its high-water mark."""
        self.send(data)
        if self._writable is not None:
            await self._writable

    def finished(self, reuse: bool) -> None:
        self.answer = None
        self.resume()
        if reuse and not self.closed:
            self.idle_since = self.loop.time()
            self.pool.put_back(self)
        else:
            self.close()
        self.pool.slot_free()

    def pause(self) -> None:
        if not self.paused and not self.closed and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            if not self.closed:
                self.transport.resume_reading()

    def close(self) -> None:
        answer = self.answer
        if answer is not None:  # closed under an answer: it must not look complete
            answer.fail(UpstreamBroken("the connection was closed before the answer ended"))
            if self.answer is None:
                return  # failing it ended it, which closed this connection
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
        if self.transport is not None:
            self.transport.abort()  # nothing of ours is pending: no need to flush

    @staticmethod
    def _until_close(answer: Answer) -> bool:
        """Headers are in and declare neither a length nor chunked as the last coding: the
        body ends with the connection (RFC 9112 section 6.3)."""
        if not answer.has_headers or answer.error is not None:
            return False
        for name, value in answer.headers:
            lower = name.lower()
            if lower == "content-length":
                return False
            if (
                lower == "transfer-encoding"
                and value.rsplit(",", 1)[-1].strip().lower() == "chunked"
            ):
                return False
        return True


class Pool:
    """Connections to one origin; at most `limit` carrying a request at once."""

    def __init__(self, origin: Origin, limit: int, keepalive_s: float) -> None:
        self.origin = origin
        self.keepalive_s = keepalive_s
        self._idle: deque[Connection] = deque()  # oldest first
        self._open: set[Connection] = set()
        self._slots = asyncio.Semaphore(limit)
        self._tls = ssl.create_default_context() if origin.tls else None
        self._loop = asyncio.get_running_loop()  # made by `send`; once, it costs a getpid()

    async def acquire(self, connect_timeout_s: float, fresh: bool = False) -> Connection:
        """A connection holding one of the pool's slots (`slot_free` gives it back)."""
        if not self._slots.locked():
            await self._slots.acquire()
        else:
            try:
                await asyncio.wait_for(self._slots.acquire(), connect_timeout_s)
            except TimeoutError as exc:
                raise UpstreamUnreachable(
                    f"every connection to {self.origin.authority} stayed busy "
                    f"for {connect_timeout_s} s"
                ) from exc
        try:
            idle = None if fresh else self._take_idle()
            return idle or await self._connect(connect_timeout_s)
        except BaseException:
            self._slots.release()
            raise

    def _take_idle(self) -> Connection | None:
        now = self._loop.time()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to be closed
            closing = conn.transport is None or conn.transport.is_closing()
            if not conn.closed and not closing and now - conn.idle_since < self.keepalive_s:
                return conn
            conn.close()
        return None

    async def _connect(self, timeout_s: float) -> Connection:
        loop = self._loop
        origin = self.origin
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(self, loop),
                    origin.host,
                    origin.port,
                    ssl=self._tls,
                    server_hostname=origin.host if self._tls else None,
                ),
                timeout_s,
            )
        except TimeoutError as exc:
            raise UpstreamUnreachable(
                f"no connection to {origin.authority} within {timeout_s} s"
            ) from exc
        except OSError as exc:  # refused, unreachable, no such host, TLS refused
            raise UpstreamUnreachable(f"cannot connect to {origin.authority}: {exc}") from exc
        self._open.add(conn)
        return conn

    def put_back(self, conn: Connection) -> None:
        self._idle.append(conn)
        # the oldest idle ones first: those past their keep-alive are closed here, so a pool
        # that a quiet spell leaves larger than it needs shrinks as soon as traffic returns
        expired = conn.idle_since - self.keepalive_s
        while self._idle and self._idle[0].idle_since <= expired:
            self._idle.popleft().close()

    def slot_free(self) -> None:
        self._slots.release()

    def forget(self, conn: Connection) -> None:
        self._open.discard(conn)

    def close(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._idle.clear()


class Http1Upstream:
    """The gateway's upstream client (see the module docstring)."""

    def __init__(self, limit: int = 256, keepalive_s: float = 15.0) -> None:
        self._limit = limit
        self._keepalive_s = keepalive_s
        self._pools: dict[str, Pool] = {}

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        timeout_s: float,
        connect_timeout_s: float,
    ) -> UpstreamResponse:
        origin, target = split_url(url)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = Pool(parse_origin(origin), self._limit, self._keepalive_s)
        try:
            return await self._send(
                pool, method, target, headers, body, timeout_s, connect_timeout_s
            )
        except _Stale as exc:
            if not isinstance(body, bytes) or method not in RETRIED_ON_STALE:
                raise exc.error from None
            return await self._send(
                pool, method, target, headers, body, timeout_s, connect_timeout_s, fresh=True
            )

    @staticmethod
    async def _send(
        pool: Pool,
        method: str,
        target: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        timeout_s: float,
        connect_timeout_s: float,
        fresh: bool = False,
    ) -> UpstreamResponse:
        conn = await pool.acquire(connect_timeout_s, fresh)
        buffered = isinstance(body, bytes)
        answer = conn.start(
            timeout_s, head_only=method == "HEAD", sent_body=not buffered or bool(body)
        )
        try:
            if isinstance(body, bytes):
                # whole, without waiting for the socket: the transport buffers the rest, so
                # an upstream that answers while it reads can never wait on us
                conn.send(request_head(method, target, pool.origin, headers, body) + body)
                answer.request_sent = True
            else:
                # beside the wait for the answer, which may come before the body is all out
                head = request_head(method, target, pool.origin, headers, None)
                answer.writer = asyncio.ensure_future(
                    _write_stream(conn, answer, head, body, _declared_length(headers))
                )
                answer.writer.add_done_callback(answer.written)
            await answer.headers_ready()
        except UpstreamBroken as exc:
            if conn.used > 1 and not answer.received:
                raise _Stale(exc) from None
            raise
        except BaseException:
            answer.abandon()  # cancelled (the client left) or a bug: the connection is unknown
            raise
        return UpstreamResponse(answer.status, answer.headers, answer.stream(), answer.abandon)

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


class _Stale(Exception):
    """A reused connection failed before any byte of the answer: the request may be resent."""

    def __init__(self, error: UpstreamBroken) -> None:
        super().__init__(str(error))
        self.error = error


def _declared_length(headers: Headers) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value)
    return None


async def _write_stream(
    conn: Connection, answer: Answer, head: bytes, body: AsyncIterator[bytes], sized: int | None
) -> None:
    """The head, then the body as the caller hands it over: chunked, or as it is when the
    caller declared its length, which it must then match."""
    await conn.write(head)
    sent = 0
    chunks = aiter(body)
    while True:
        answer.waiting_for_caller = True  # the caller's pace is not the upstream's stall
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            break
        finally:
            answer.waiting_for_caller = False
        if answer.ended:
            return  # answered and done, or failed: the rest of the body is not wanted
        if not chunk:
            continue
        sent += len(chunk)
        if sized is not None and sent > sized:
            raise UpstreamBroken(f"the request body is longer than its Content-Length {sized}")
        await conn.write(chunk if sized is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
        answer.last_activity = conn.loop.time()
    if sized is not None and sent != sized:
        raise UpstreamBroken(f"the request body ended at {sent} of its {sized} bytes")
    if sized is None and not answer.ended:
        await conn.write(b"0\r\n\r\n")
