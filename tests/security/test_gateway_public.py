"""The gateway's public listener under malformed and hostile requests: a 4xx problem or a
closed connection, never a 500, a traceback or a request missing from the metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.gateways import INTERNAL_TOKEN, GatewayProcess
from tests.security.wire import closed_within, connect, exchange, parse, requests_counted

pytestmark = pytest.mark.e2e

Start = Callable[..., GatewayProcess]


def log_of(gateway: GatewayProcess, tmp_path: Path) -> str:
    return (tmp_path / "logs" / f"gateway-{gateway.port_base}.log").read_text()


@pytest.mark.parametrize(
    "token",
    [b"\xe9t\xe9", "ключ-ключ-ключ".encode(), INTERNAL_TOKEN.encode() + b"\xff"],
    ids=["latin-1", "utf-8", "the-right-one-and-a-byte-more"],
)
def test_a_non_ascii_internal_token_is_a_wrong_token_never_a_server_error(
    gateway: Start, tmp_path: Path, token: bytes
) -> None:
    gw = gateway()
    answer = exchange(
        gw.url,
        b"GET /orders/7 HTTP/1.1\r\nHost: shop\r\nX-Strangler-Target: extracted\r\n"
        b"X-Strangler-Token: " + token + b"\r\nConnection: close\r\n\r\n",
    )
    assert answer.status == 200, answer
    seen = answer.json()
    assert seen["served_by"] == "legacy"  # the override was not honoured
    assert not [name for name in seen["headers"] if name.startswith("x-strangler-")]
    assert "Traceback" not in log_of(gw, tmp_path)


def test_a_request_with_a_non_ascii_token_is_counted_like_any_other(gateway: Start) -> None:
    gw = gateway()

    def counted() -> float:
        text = httpx.get(gw.admin_url + "/metrics", timeout=10).text
        return requests_counted(text, route="orders", target="legacy", status="200")

    before = counted()
    answer = exchange(
        gw.url,
        b"GET /orders/7 HTTP/1.1\r\nHost: shop\r\nX-Strangler-Token: \xe9\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert answer.status == 200
    assert counted() == before + 1


@pytest.mark.parametrize("path", ["/orders/7", "/", "/anything/else"])
def test_a_websocket_upgrade_is_refused_with_a_problem_on_any_path(
    gateway: Start, tmp_path: Path, path: str
) -> None:
    gw = gateway()
    answer = exchange(
        gw.url,
        f"GET {path} HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode(),
    )  # no Connection: close: the gateway closes it
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:strangler-kit:problem:websocket-unsupported"
    assert "Traceback" not in log_of(gw, tmp_path)


@pytest.mark.parametrize(
    "length",
    [
        b"\xb2",
        "٣".encode(),
        b"+3",
        b"3, 4",
        b"-1",
        b"3\r\nContent-Length: 4",
        b"99999999999999999999",
    ],
    ids=["superscript-two", "arabic-three", "plus", "list", "negative", "twice", "huge"],
)
def test_an_odd_content_length_is_a_bad_request_problem(gateway: Start, length: bytes) -> None:
    gw = gateway()

    def counted() -> float:
        text = httpx.get(gw.admin_url + "/metrics", timeout=10).text
        return requests_counted(text, status="400")

    before = counted()
    answer = exchange(
        gw.url,
        b"POST /orders/7 HTTP/1.1\r\nHost: shop\r\nContent-Length: " + length + b"\r\n"
        b"Connection: close\r\n\r\nabc",
    )
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].startswith("urn:strangler-kit:problem:")
    assert counted() == before + 1


TIMEOUTS = {"GATEWAY_HEADER_TIMEOUT_S": "1", "GATEWAY_BODY_TIMEOUT_S": "1"}


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    gateway: Start,
) -> None:
    gw = gateway(**TIMEOUTS)
    with connect(gw.url) as sock:
        closed, sent = closed_within(sock, 4)
    assert closed and sent == b""  # nothing asked, nothing answered


def test_headers_sent_a_byte_at_a_time_get_408_and_the_connection_closed(gateway: Start) -> None:
    gw = gateway(**TIMEOUTS)
    with connect(gw.url) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /orders/7 HTTP/1.1\r\nHost: shop\r\n")
        closed, sent = False, b""
        for _ in range(40):  # slowloris: a header byte every 0.1 s keeps the request going
            closed, sent = closed_within(sock, 0.1)
            if closed:
                break
            sock.sendall(b"X")
        waited = time.monotonic() - started
    assert closed and waited < 3, waited
    answer = parse(sent)
    assert answer.status == 408
    assert answer.json()["type"] == "urn:strangler-kit:problem:header-timeout"


@pytest.mark.parametrize("streamed", [False, True], ids=["buffered", "streamed"])
def test_a_body_not_complete_in_time_gets_408_and_the_connection_closed(
    gateway: Start, upstreams: dict[str, str], streamed: bool
) -> None:
    gw = gateway(**TIMEOUTS, GATEWAY_STREAM_FROM_BYTES="4" if streamed else "1048576")
    writes = len(httpx.get(upstreams["legacy"] + "/_echo/writes").json())
    with connect(gw.url) as sock:
        sock.sendall(
            b"POST /orders/7 HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"a": '
        )
        closed, sent = closed_within(sock, 4)
    assert closed
    answer = parse(sent)
    assert answer.status == 408
    assert answer.json()["type"] == "urn:strangler-kit:problem:body-timeout"
    assert len(httpx.get(upstreams["legacy"] + "/_echo/writes").json()) == writes


def test_an_idle_keep_alive_connection_outlives_the_header_timeout(gateway: Start) -> None:
    """Between requests the keep-alive timeout applies (5 s), not the header timeout."""
    gw = gateway(**TIMEOUTS)
    request = b"GET /orders/7 HTTP/1.1\r\nHost: shop\r\n\r\n"
    with connect(gw.url) as sock:
        for _ in range(2):
            sock.sendall(request)
            closed, sent = closed_within(sock, 1.5)  # reads the answer, then waits idle
            assert not closed and sent.startswith(b"HTTP/1.1 200 ")
