"""The gateway's upstream clients against a scripted upstream on a real socket.

The upstream here is a plain asyncio server whose answers are written byte by byte, so a test
can produce what well-behaved test servers never do: an answer cut midway, a stall, an idle
connection closed as the next request goes out, an early answer to a body. The common
behaviour is checked on both clients (`http1`, the default, and `aiohttp`); what only the
gateway's own client does (retrying a GET on a connection closed while idle, its pool limit)
is checked on it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from gateway.http1 import Http1Upstream
from gateway.upstream import (
    AiohttpUpstream,
    Upstream,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)

pytestmark = pytest.mark.anyio

JSON_200 = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}'


@dataclass
class Received:
    head: bytes
    body: bytes


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Scripted"], Awaitable[None]]


@dataclass
class Scripted:
    """An upstream whose `handler` writes each connection's answers by hand."""

    handler: Handler
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_now -= 1
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> Received | None:
        """One request, its body de-chunked; None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").lower().split("\r\n")
        length = next(
            (int(v) for n, _, v in (x.partition(": ") for x in lines) if n == "content-length"),
            None,
        )
        body = b""
        if length is not None:
            body = await reader.readexactly(length)
        elif "transfer-encoding: chunked" in lines:
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            await reader.readexactly(2)
        received = Received(head, body)
        self.requests.append(received)
        return received

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Handler], Awaitable[Scripted]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Scripted:
        upstream = Scripted(handler)
        server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
        upstream.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return upstream

    yield start
    for server in servers:
        server.close()


@pytest.fixture(params=["http1", "aiohttp"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
    upstream: Upstream = Http1Upstream() if request.param == "http1" else AiohttpUpstream()
    yield upstream
    await upstream.close()


@pytest.fixture
async def http1() -> AsyncIterator[Http1Upstream]:
    upstream = Http1Upstream(limit=2)
    yield upstream
    await upstream.close()


def answer_each(answer: bytes) -> Handler:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        while await up.read_request(reader) is not None:
            writer.write(answer)
            await writer.drain()

    return handler


async def fetch(
    client: Upstream,
    method: str,
    url: str,
    body: bytes | AsyncIterator[bytes] = b"",
    timeout_s: float = 2.0,
) -> tuple[int, dict[str, str], bytes]:
    response = await client.send(
        method, url, [("Accept", "application/json")], body, timeout_s, 1.0
    )
    return response.status, {n.lower(): v for n, v in response.headers}, await response.read()


async def test_the_request_goes_out_byte_for_byte_and_the_connection_is_kept(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    up = await scripted(answer_each(JSON_200))
    target = "/products/a%2Fb/../x?q=%41&q=2&empty="
    status, headers, body = await fetch(client, "GET", up.url + target)
    await fetch(client, "POST", up.url + "/orders", b'{"n":1}')
    assert (status, headers["content-type"], body) == (200, "application/json", b'{"a":1}')
    first, second = (r.head.decode("latin-1") for r in up.requests)
    assert first.startswith(f"GET {target} HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{up.port}\r\n" in first.lower()
    assert "accept: application/json\r\n" in first.lower()
    assert second.startswith("POST /orders HTTP/1.1\r\n")
    assert "content-length: 7\r\n" in second.lower()
    assert up.requests[1].body == b'{"n":1}'
    assert up.connections == 1


async def test_a_streamed_body_without_a_length_goes_out_chunked_and_whole(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    up = await scripted(answer_each(JSON_200))

    async def parts() -> AsyncIterator[bytes]:
        for n in range(100):
            yield bytes([65 + n % 26]) * 10_000

    status, _, _ = await fetch(client, "PUT", up.url + "/upload", parts())
    assert status == 200
    assert up.requests[0].body == b"".join(bytes([65 + n % 26]) * 10_000 for n in range(100))


async def test_answers_of_every_framing_arrive_whole(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: more than the client buffers before pausing

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        request = await up.read_request(reader)
        assert request is not None
        if b"/chunked" in request.head:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(big), 65536):
                writer.write(b"%x\r\n%b\r\n" % (65536, big[start : start + 65536]))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:  # neither length nor chunked: the body ends when the connection does
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big)
        await writer.drain()
        if b"/chunked" in request.head:
            await handler(reader, writer, up)

    up = await scripted(handler)
    assert (await fetch(client, "GET", up.url + "/chunked"))[2] == big
    assert (await fetch(client, "GET", up.url + "/until-close"))[2] == big


async def test_a_head_answer_has_no_body_and_an_interim_answer_is_skipped(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        while (request := await up.read_request(reader)) is not None:
            if request.head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + JSON_200)
            await writer.drain()

    up = await scripted(handler)
    assert await fetch(client, "HEAD", up.url + "/p") == (200, {"content-length": "5000"}, b"")
    status, _, body = await fetch(client, "POST", up.url + "/p", b"{}")
    assert (status, body) == (200, b'{"a":1}')


async def test_a_refused_connection_is_unreachable(client: Upstream) -> None:
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    with pytest.raises(UpstreamUnreachable):
        await fetch(client, "GET", f"http://127.0.0.1:{port}/p")


async def test_no_answer_in_time_and_a_stall_midway_are_timeouts(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        request = await up.read_request(reader)
        assert request is not None
        if b"/midway" in request.head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
            await writer.drain()
        await asyncio.sleep(5)

    up = await scripted(handler)
    with pytest.raises(UpstreamTimeout):
        await fetch(client, "GET", up.url + "/silent", timeout_s=0.3)
    response = await client.send("GET", up.url + "/midway", [], b"", 0.3, 1.0)
    assert response.status == 200
    with pytest.raises(UpstreamTimeout):
        await response.read()


async def test_an_answer_cut_midway_or_not_http_is_broken(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        request = await up.read_request(reader)
        assert request is not None
        if b"/cut" in request.head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        else:
            writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    up = await scripted(handler)
    response = await client.send("GET", up.url + "/cut", [], b"", 2.0, 1.0)
    with pytest.raises(UpstreamBroken):
        await response.read()
    with pytest.raises(UpstreamBroken):
        await fetch(client, "GET", up.url + "/garbage")


async def test_after_an_early_refusal_of_a_body_the_connection_is_not_reused(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        up.requests.append(Received(head, b""))
        if head.startswith(b"POST"):  # refuses before reading the body; says keep-alive
            writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        writer.write(JSON_200)
        await writer.drain()

    up = await scripted(handler)
    status, _, _ = await fetch(client, "POST", up.url + "/big", b"x" * 100_000)
    assert status == 413
    assert (await fetch(client, "GET", up.url + "/next"))[0] == 200
    assert up.connections == 2


async def test_a_get_on_a_connection_closed_while_idle_is_sent_again_but_a_post_is_not(
    http1: Http1Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        await up.read_request(reader)
        writer.write(JSON_200)  # keep-alive, then the next request finds it closed unanswered
        await writer.drain()
        await up.read_request(reader)

    up = await scripted(handler)
    assert (await fetch(http1, "GET", up.url + "/a"))[0] == 200
    assert (await fetch(http1, "GET", up.url + "/b"))[0] == 200
    assert [r.head.split(b" ")[1] for r in up.requests] == [b"/a", b"/b", b"/b"]
    with pytest.raises(UpstreamBroken):
        await fetch(http1, "POST", up.url + "/c", b"{}")
    assert [r.head.split(b" ")[1] for r in up.requests][-1] == b"/c"
    assert up.connections == 2  # /b again on a new one, which /c then finds closed


async def test_the_pool_holds_requests_beyond_its_limit_until_a_connection_is_free(
    http1: Http1Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        while await up.read_request(reader) is not None:
            await asyncio.sleep(0.05)
            writer.write(JSON_200)
            await writer.drain()

    up = await scripted(handler)
    answers = await asyncio.gather(*(fetch(http1, "GET", up.url + f"/{n}") for n in range(6)))
    assert [status for status, _, _ in answers] == [200] * 6
    assert up.most_open == 2


async def test_a_caller_that_leaves_midway_does_not_leave_the_connection_in_the_pool(
    http1: Http1Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        while (request := await up.read_request(reader)) is not None:
            if b"/slow" in request.head:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
                await writer.drain()
                await asyncio.sleep(0.2)
                writer.write(b"-rest")
            else:
                writer.write(JSON_200)
            await writer.drain()

    up = await scripted(handler)
    response = await http1.send("GET", up.url + "/slow", [], b"", 2.0, 1.0)
    body = aiter(response.body)
    assert await anext(body) == b"first"
    await body.aclose()  # type: ignore[attr-defined]
    assert (await fetch(http1, "GET", up.url + "/next"))[2] == b'{"a":1}'
    assert up.connections == 2


async def test_a_line_break_in_a_header_never_reaches_the_upstream(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    up = await scripted(answer_each(JSON_200))
    with pytest.raises((UpstreamUnreachable, ValueError)):
        response = await client.send(
            "GET", up.url + "/p", [("X-Note", "a\r\nX-Admin: yes")], b"", 2.0, 1.0
        )
        await response.read()
    assert up.requests == []


async def test_an_answer_before_the_end_of_a_streamed_body_never_leaves_the_rest_to_the_next(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    """The upstream answers as soon as it has the head, then reads the declared body. The
    connection must not carry the next request while that body is still going out: the
    upstream would read the next request as the rest of the body."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            up.requests.append(Received(head, b""))
            writer.write(JSON_200)
            await writer.drain()
            if head.startswith(b"POST"):
                await reader.readexactly(300)  # the declared body, after answering

    up = await scripted(handler)

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"x" * 100
        await asyncio.sleep(0.2)
        yield b"x" * 200

    headers = [("Content-Length", "300")]
    posted = await client.send("POST", up.url + "/upload", headers, slow_body(), 2.0, 1.0)
    assert (posted.status, await posted.read()) == (200, b'{"a":1}')
    status, _, body = await fetch(client, "GET", up.url + "/next")
    assert (status, body) == (200, b'{"a":1}')
    assert [r.head.split(b" ")[1] for r in up.requests] == [b"/upload", b"/next"]


async def test_an_upstream_that_answers_while_it_reads_gets_the_whole_body(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    """An echo that streams back what it reads: neither side may wait on the other."""

    async def echo(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            writer.write(b"%x\r\n%b\r\n" % (size, await reader.readexactly(size)))
            await reader.readexactly(2)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    up = await scripted(echo)
    part = bytes(range(256)) * 256  # 64 KiB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB: far more than either side buffers
            yield part

    response = await client.send("POST", up.url + "/echo", [], body(), 5.0, 1.0)
    assert await response.read() == part * 64


async def test_the_pace_of_the_caller_is_not_an_upstream_timeout(
    client: Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    """A client that uploads slowly (a pause longer than the timeout between two chunks)."""
    up = await scripted(answer_each(JSON_200))

    async def slow_upload() -> AsyncIterator[bytes]:
        yield b"first,"
        await asyncio.sleep(0.6)
        yield b"second"

    response = await client.send("PUT", up.url + "/slowly", [], slow_upload(), 0.4, 1.0)
    assert (response.status, await response.read()) == (200, b'{"a":1}')
    assert up.requests[0].body == b"first,second"


async def test_a_slow_reader_of_a_large_answer_gets_all_of_it(
    http1: Http1Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    """Reading pauses while the caller holds a buffer's worth; that wait is the caller's."""
    big = b"z" * (2 * 1024 * 1024)

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        await up.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(big), big))
        await writer.drain()
        await reader.read()

    up = await scripted(handler)
    response = await http1.send("GET", up.url + "/big", [], b"", 0.3, 1.0)
    got = []
    async for chunk in response.body:
        got.append(chunk)
        await asyncio.sleep(0.4)  # longer than the timeout, after each buffer's worth
    assert b"".join(got) == big


async def test_a_streamed_body_shorter_than_its_length_fails_at_once_and_is_not_reused(
    http1: Http1Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    up = await scripted(answer_each(JSON_200))

    async def cut_short() -> AsyncIterator[bytes]:
        yield b"only ten b"

    with pytest.raises(UpstreamBroken, match="ended at 10 of its 100 bytes"):
        await http1.send("POST", up.url + "/p", [("Content-Length", "100")], cut_short(), 5.0, 1.0)
    assert (await fetch(http1, "GET", up.url + "/next"))[0] == 200
    assert up.connections == 2


async def test_an_answer_delimited_by_the_close_is_not_complete_when_we_close_it(
    http1: Http1Upstream, scripted: Callable[[Handler], Awaitable[Scripted]]
) -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: Scripted
    ) -> None:
        await up.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1-")
        await writer.drain()
        await asyncio.sleep(5)

    up = await scripted(handler)
    response = await http1.send("GET", up.url + "/stream", [], b"", 5.0, 1.0)
    body = aiter(response.body)
    assert await anext(body) == b"part1-"
    await http1.close()  # the gateway stopping
    with pytest.raises(UpstreamBroken):
        await anext(body)


async def test_connections_idle_past_their_keep_alive_are_closed_as_traffic_goes_on(
    scripted: Callable[[Handler], Awaitable[Scripted]],
) -> None:
    up = await scripted(answer_each(JSON_200))
    upstream = Http1Upstream(keepalive_s=0.2)
    try:
        await asyncio.gather(*(fetch(upstream, "GET", up.url + f"/{n}") for n in range(5)))
        assert up.open_now == 5
        await asyncio.sleep(0.3)
        for _ in range(3):  # one at a time: one connection is enough
            await fetch(upstream, "GET", up.url + "/again")
        await asyncio.sleep(0.05)
        assert up.open_now == 1
    finally:
        await upstream.close()
