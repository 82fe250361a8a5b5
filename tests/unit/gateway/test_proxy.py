"""The proxy with a fake upstream: forwarding hygiene, refusals, modes and the fallback rules."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import Gateway, create_gateway
from gateway.settings import GatewaySettings
from gateway.signals import RouteSignals
from gateway.upstream import (
    UpstreamBroken,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)

pytestmark = pytest.mark.anyio

LEGACY = "http://legacy.test"
ORDERS = "http://orders.test"


@dataclass
class Call:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class FakeUpstream:
    """Answers 200 with the upstream's name, unless told to fail for a base URL (after
    its delay, if it has one)."""

    failures: dict[str, UpstreamError | int] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    streamed: list[bool] = field(default_factory=list)

    async def send(
        self,
        method: str,
        url: str,
        headers: Any,
        body: Any,
        timeout_s: float,
        connect_timeout_s: float,
    ) -> UpstreamResponse:
        self.streamed.append(not isinstance(body, bytes))
        data = body if isinstance(body, bytes) else b"".join([c async for c in body])
        self.calls.append(Call(method, url, list(headers), data))
        base = ORDERS if url.startswith(ORDERS) else LEGACY
        await asyncio.sleep(self.delays.get(base, 0))
        failure = self.failures.get(base)
        if isinstance(failure, UpstreamError):
            raise failure
        status = failure if isinstance(failure, int) else 200

        async def chunks() -> AsyncIterator[bytes]:
            yield json.dumps({"served_by": base}).encode()

        return UpstreamResponse(
            status,
            [("Content-Type", "application/json"), ("Connection", "close"), ("X-Upstream", base)],
            chunks(),
        )

    async def close(self) -> None:
        return None


def write_routes(tmp_path: Path, mode: str = "legacy", **route: Any) -> Path:
    lines = [
        f'[upstreams]\nlegacy = "{LEGACY}"\norders = "{ORDERS}"\n',
        "[[routes]]",
        'name = "orders"',
        'match = ["/orders/**", "/users/{user_id}/orders"]',
        'extracted = "orders"',
        f'mode = "{mode}"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in route.items()]
    path = tmp_path / "routes.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def client(
    tmp_path: Path, upstream: FakeUpstream, mode: str = "legacy", **route: Any
) -> httpx.AsyncClient:
    return gateway_and_client(tmp_path, upstream, mode, **route)[1]


def gateway_and_client(
    tmp_path: Path, upstream: FakeUpstream, mode: str = "legacy", **route: Any
) -> tuple[Gateway, httpx.AsyncClient]:
    settings = GatewaySettings(
        routes_file=write_routes(tmp_path, mode, **route),
        max_body_bytes=100,
        stream_from_bytes=40,
        internal_token="s3cret",
    )
    gateway = create_gateway(settings, upstream=upstream)
    return gateway, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.public, client=("10.1.2.3", 5000)),
        base_url="http://shop.test",
    )


async def test_a_request_is_forwarded_with_its_query_byte_for_byte_and_forwarding_headers(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream()
    async with client(tmp_path, fake) as c:
        response = await c.get(
            "/products?b=2&a=%41+x&a=1",
            headers={
                "Connection": "keep-alive, X-Secret-Hop",
                "X-Secret-Hop": "1",
                "Keep-Alive": "5",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "X-Forwarded-For": "192.0.2.1",
            },
        )
    assert response.status_code == 200
    call = fake.calls[0]
    assert call.url == f"{LEGACY}/products?b=2&a=%41+x&a=1"
    sent = {k.lower(): v for k, v in call.headers}
    assert "connection" not in sent and "keep-alive" not in sent and "x-secret-hop" not in sent
    assert sent["x-forwarded-for"] == "192.0.2.1, 10.1.2.3"
    assert sent["x-forwarded-proto"] == "http" and sent["x-forwarded-host"] == "shop.test"
    assert sent["traceparent"].startswith("00-0af7")
    assert sent["x-request-id"] == response.headers["x-request-id"]
    assert "connection" not in {k.lower() for k in response.headers if k.lower() != "connection"}
    assert response.headers["x-upstream"] == LEGACY


async def test_a_well_formed_request_id_is_kept_and_a_bad_one_replaced(tmp_path: Path) -> None:
    fake = FakeUpstream()
    async with client(tmp_path, fake) as c:
        kept = await c.get("/x", headers={"X-Request-ID": "req-123"})
        replaced = await c.get("/x", headers={"X-Request-ID": "bad id with spaces"})
    assert kept.headers["x-request-id"] == "req-123"
    assert replaced.headers["x-request-id"] != "bad id with spaces"
    assert dict(fake.calls[1].headers)["X-Request-ID"] == replaced.headers["x-request-id"]


async def test_an_ambiguous_path_is_refused_before_any_upstream_sees_it(tmp_path: Path) -> None:
    fake = FakeUpstream()
    async with client(tmp_path, fake) as c:
        response = await c.get("/orders/%2e%2e/admin")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(":ambiguous-path")
    assert fake.calls == []


async def test_a_body_over_the_limit_gets_413_declared_or_not(tmp_path: Path) -> None:
    fake = FakeUpstream()

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 30

    async with client(tmp_path, fake) as c:
        declared = await c.post("/products", content=b"x" * 101)
        streamed = await c.post("/products", content=chunked())
        fine = await c.post("/products", content=b"x" * 100)
    assert declared.status_code == 413 and streamed.status_code == 413
    assert declared.json()["route"] == "default"
    assert fine.status_code == 200 and len(fake.calls) == 1 and fake.calls[0].body == b"x" * 100


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (UpstreamUnreachable("refused"), 502, "upstream-unreachable"),
        (UpstreamTimeout("slow"), 504, "upstream-timeout"),
    ],
)
async def test_an_upstream_failure_is_a_problem_naming_the_route(
    tmp_path: Path, error: UpstreamError, status: int, slug: str
) -> None:
    fake = FakeUpstream(failures={LEGACY: error})
    async with client(tmp_path, fake) as c:
        response = await c.get("/orders/1")
    assert response.status_code == status
    body = response.json()
    assert (
        body["type"].endswith(slug)
        and body["route"] == "orders"
        and "Traceback" not in response.text
    )


async def test_a_canary_is_sticky_per_key_and_keyless_requests_stay_on_legacy(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream()
    async with client(tmp_path, fake, mode="canary", weight=50, sticky_key="path:user_id") as c:
        served = {}
        for user in range(40):
            answers = {(await c.get(f"/users/{user}/orders")).json()["served_by"] for _ in range(3)}
            assert len(answers) == 1  # the same user always lands on the same side
            served[user] = answers.pop()
        keyless = await c.get("/orders/9")
    assert set(served.values()) == {LEGACY, ORDERS}
    assert keyless.json()["served_by"] == LEGACY


async def test_internal_headers_are_stripped_without_the_token_and_honoured_with_it(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream()
    async with client(tmp_path, fake) as c:
        anonymous = await c.get(
            "/orders/1",
            headers={"X-Strangler-Target": "extracted", "X-Strangler-Shadow": "dry-run"},
        )
        wrong = await c.get(
            "/orders/1", headers={"X-Strangler-Target": "extracted", "X-Strangler-Token": "guess"}
        )
        developer = await c.get(
            "/orders/1", headers={"X-Strangler-Target": "extracted", "X-Strangler-Token": "s3cret"}
        )
    assert anonymous.json()["served_by"] == LEGACY and wrong.json()["served_by"] == LEGACY
    assert developer.json()["served_by"] == ORDERS
    for call in fake.calls[:2]:
        names = {k.lower() for k, _ in call.headers}
        assert not names & {"x-strangler-target", "x-strangler-shadow", "x-strangler-token"}
    assert "x-strangler-token" not in {k.lower() for k, _ in fake.calls[2].headers}


@pytest.mark.parametrize(
    ("method", "headers", "failure", "expected"),
    [
        ("POST", {}, UpstreamUnreachable("refused"), 200),  # never left the gateway: safe to retry
        ("GET", {}, UpstreamTimeout("slow"), 200),  # safe method
        ("POST", {}, UpstreamTimeout("slow"), 504),  # may have been written: no retry
        # legacy ignores the key: a retry there would be a second write
        ("POST", {"Idempotency-Key": "k1"}, UpstreamTimeout("slow"), 504),
        ("POST", {"Idempotency-Key": "k1"}, 503, 503),
        ("POST", {"Idempotency-Key": "k1"}, UpstreamBroken("reset"), 502),
        ("POST", {}, 503, 503),  # a 5xx on a write is the client's answer
        ("GET", {}, 503, 200),
    ],
)
async def test_extracted_falls_back_to_legacy_only_when_that_cannot_write_twice(
    tmp_path: Path,
    method: str,
    headers: dict[str, str],
    failure: UpstreamError | int,
    expected: int,
) -> None:
    fake = FakeUpstream(failures={ORDERS: failure})
    async with client(tmp_path, fake, mode="extracted") as c:
        response = await c.request(method, "/orders/1", headers=headers, content=b"{}")
    assert response.status_code == expected
    if method == "POST" and isinstance(failure, UpstreamTimeout | UpstreamBroken):
        answer = response.json()
        assert answer["outcome"] == "unknown" and answer["route"] == "orders"
        assert "may or may not have been carried out" in answer["detail"]
    if expected == 200:
        assert response.json()["served_by"] == LEGACY
        assert [call.url.removesuffix("/orders/1") for call in fake.calls] == [ORDERS, LEGACY]
    else:
        assert [call.url.removesuffix("/orders/1") for call in fake.calls] == [ORDERS]


async def test_a_route_without_fallback_reports_the_extracted_failure(tmp_path: Path) -> None:
    fake = FakeUpstream(failures={ORDERS: UpstreamUnreachable("refused")})
    async with client(tmp_path, fake, mode="extracted", fallback=False) as c:
        response = await c.get("/orders/1")
    assert response.status_code == 502 and len(fake.calls) == 1


async def test_a_large_declared_body_streams_on_legacy_routes_and_is_buffered_where_replayed(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream()
    async with client(tmp_path, fake) as c:
        small = await c.post("/products", content=b"s" * 40)
        large = await c.post("/products", content=b"l" * 90)
    assert small.status_code == large.status_code == 200
    assert fake.streamed == [False, True]
    assert [call.body for call in fake.calls] == [b"s" * 40, b"l" * 90]
    assert dict(fake.calls[1].headers)["content-length"] == "90"
    replayable = FakeUpstream()
    async with client(tmp_path, replayable, mode="extracted") as c:
        await c.post("/orders/1", content=b"l" * 90)
    assert replayable.streamed == [False]  # a fallback may need to send it again


@pytest.mark.parametrize("declared", [b"20", b"100"], ids=["buffered", "streamed"])
async def test_a_body_cut_short_by_the_client_leaving_is_never_sent_as_whole(
    tmp_path: Path, declared: bytes
) -> None:
    """20 bytes are buffered, 100 stream (stream_from_bytes is 40 here); the client sends
    a part, then disconnects."""
    fake = FakeUpstream()
    settings = GatewaySettings(
        routes_file=write_routes(tmp_path), max_body_bytes=1000, stream_from_bytes=40
    )
    gateway = create_gateway(settings, upstream=fake)
    messages = iter(
        [
            {"type": "http.request", "body": b"0123456789", "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/orders/1",
        "raw_path": b"/orders/1",
        "query_string": b"",
        "headers": [(b"host", b"shop.test"), (b"content-length", declared)],
        "client": ("10.1.2.3", 5000),
        "scheme": "http",
    }
    await gateway.public(scope, receive, send)
    # buffered: nothing goes upstream; streamed: the upstream saw 10 bytes and an error,
    # never a whole request (the fake reads the stream to its end, which raises)
    assert all(len(call.body) < int(declared) for call in fake.calls)
    assert not any(m.get("status") == 200 for m in sent)


@pytest.mark.parametrize("failure", [UpstreamUnreachable("refused"), UpstreamTimeout("slow"), 500])
async def test_a_dry_run_that_fails_changes_nothing_the_client_gets(
    tmp_path: Path, failure: UpstreamError | int
) -> None:
    fake = FakeUpstream(failures={ORDERS: failure})
    async with client(tmp_path, fake, mode="shadow", dry_run=True) as c:
        response = await c.post("/orders/1", content=b'{"qty": 1}')
    assert response.status_code == 200 and response.json()["served_by"] == LEGACY
    # the dry run went first, marked as one; then the write, to legacy alone
    assert [call.url for call in fake.calls] == [f"{ORDERS}/orders/1", f"{LEGACY}/orders/1"]
    sent = dict(fake.calls[0].headers)
    assert sent["x-strangler-shadow"].startswith("dry-run; t=")
    assert "x-strangler-token" not in sent  # the internal token never goes upstream
    assert not any(name.startswith("x-strangler") for name, _ in fake.calls[1].headers)


@pytest.mark.parametrize("extension", [True, False], ids=["http-answer", "refused-handshake"])
async def test_a_websocket_handshake_served_with_websockets_on_is_refused(
    tmp_path: Path, extension: bool
) -> None:
    fake = FakeUpstream()
    settings = GatewaySettings(routes_file=write_routes(tmp_path))
    app = create_gateway(settings, upstream=fake).public
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/orders/7",
        "headers": [],
        "extensions": {"websocket.http.response": {}} if extension else {},
    }
    await app(scope, receive, send)
    assert not fake.calls
    if extension:
        assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
        problem = json.loads(sent[1]["body"])
        assert problem["type"] == "urn:strangler-kit:problem:websocket-unsupported"
    else:
        assert sent == [{"type": "websocket.close", "code": 1008}]


GROUPED_ROUTES = f"""
[upstreams]
legacy = "{LEGACY}"
orders = "{ORDERS}"

[[routes]]
name = "carts"
match = ["/users/{{user_id}}/cart"]
extracted = "orders"
sticky_key = "path:user_id"

[[routes]]
name = "orders"
match = ["/orders/{{order_id}}"]
extracted = "orders"
sticky_key = "path:order_id"

[[groups]]
name = "checkout"
routes = ["carts", "orders"]
sticky_key = "header:x-user-id"
"""


async def test_a_user_is_served_by_one_side_on_every_route_of_a_group_at_every_weight(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(GROUPED_ROUTES)
    gateway = create_gateway(GatewaySettings(routes_file=routes), upstream=FakeUpstream())
    await gateway.live.refresh()  # the routes file's table becomes version 1
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.admin), base_url="http://127.0.0.1"
    )
    shop = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.public), base_url="http://shop.test"
    )
    extracted_before: set[int] = set()
    async with admin, shop:
        for weight in (10, 25, 50, 90):
            moved = await admin.patch(
                "/groups/checkout",
                json={"mode": "canary", "weight": weight, "reason": f"ramp to {weight}"},
            )
            assert moved.status_code == 200, moved.text
            extracted = set()
            for user in range(60):
                key = {"X-User-Id": f"user-{user}"}
                cart = await shop.get(f"/users/{user}/cart", headers=key)
                order = await shop.get(f"/orders/{5000 + user}", headers=key)
                side = cart.json()["served_by"]
                assert order.json()["served_by"] == side, (weight, user)
                if side == ORDERS:
                    extracted.add(user)
            assert extracted_before <= extracted, weight  # raising it moved nobody back
            assert 0 < len(extracted) < 60, weight
            extracted_before = extracted


async def signals_of(gateway: Gateway, route: str = "orders") -> RouteSignals:
    """What a rollout gate would read for the last minute, once this instance has flushed."""
    await gateway.signals.flush()
    now = time.time()
    return await gateway.signal_store.window(route, now - 60, now + 1)


@pytest.mark.parametrize(
    "failure", [503, UpstreamTimeout("slow"), UpstreamUnreachable("refused")], ids=str
)
async def test_an_extracted_failure_that_fell_back_to_legacy_is_an_extracted_error(
    tmp_path: Path, failure: UpstreamError | int
) -> None:
    fake = FakeUpstream(failures={ORDERS: failure})
    gateway, c = gateway_and_client(tmp_path, fake, mode="extracted")
    async with c:
        response = await c.get("/orders/1")
    assert response.status_code == 200  # legacy answered: the client never saw the failure
    sides = (await signals_of(gateway)).sides
    extracted, legacy = sides["extracted"], sides["legacy"]
    assert (extracted.requests, extracted.errors, extracted.error_rate) == (1, 1, 1.0)
    assert (legacy.requests, legacy.by_class["2xx"], legacy.errors) == (1, 1, 0)


async def test_a_fallback_s_legacy_answer_is_timed_from_the_fallback(tmp_path: Path) -> None:
    fake = FakeUpstream(failures={ORDERS: UpstreamTimeout("slow")}, delays={ORDERS: 0.3})
    gateway, c = gateway_and_client(tmp_path, fake, mode="extracted")
    async with c:
        assert (await c.get("/orders/1")).status_code == 200
    sides = (await signals_of(gateway)).sides
    extracted_p50, legacy_p99 = sides["extracted"].p50_s, sides["legacy"].p99_s
    assert extracted_p50 is not None and extracted_p50 > 0.25  # the time it took to fail
    # legacy answered at once: its figures do not carry the extracted side's 0.3 s
    assert legacy_p99 is not None and legacy_p99 < 0.15


async def test_only_answers_of_a_side_on_routes_with_an_extracted_side_are_signals(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream()
    gateway, c = gateway_and_client(tmp_path, fake, mode="extracted")
    async with c:
        # refused before a side was chosen: the gateway's answer, not a side's
        assert (await c.get("/orders/%2e%2e/admin")).status_code == 400
        assert (await c.post("/orders/1", content=b"x" * 101)).status_code == 413
        assert (await c.get("/products/1")).status_code == 200  # the default route
        assert (await c.get("/orders/1")).status_code == 200
    sides = (await signals_of(gateway)).sides
    assert (sides["extracted"].requests, sides["legacy"].requests) == (1, 0)
    default = (await signals_of(gateway, "default")).sides
    assert (default["extracted"].requests, default["legacy"].requests) == (0, 0)


async def test_a_legacy_upstream_that_fails_is_a_legacy_error(tmp_path: Path) -> None:
    fake = FakeUpstream(failures={LEGACY: UpstreamUnreachable("refused")})
    gateway, c = gateway_and_client(tmp_path, fake, mode="legacy")
    async with c:
        assert (await c.get("/orders/1")).status_code == 502  # the gateway's own answer
    legacy = (await signals_of(gateway)).sides["legacy"]
    assert (legacy.requests, legacy.by_class["5xx"], legacy.error_rate) == (1, 1, 1.0)
