"""The gateway's public listener under malformed and hostile requests: a 4xx problem or a
closed connection, never a 500, a traceback or a request missing from the metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.gateways import INTERNAL_TOKEN, GatewayProcess
from tests.security.wire import exchange, requests_counted

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
