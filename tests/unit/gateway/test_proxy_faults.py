"""The proxy under an injected fault (fake upstream, clock and draw): what the client, the
breaker and the metrics see is what a real failure of the extracted side would cause."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.breaker import Breakers
from gateway.metrics import Metrics
from gateway.proxy import Proxy, ProxyConfig
from gateway.routes import RouteTable
from tests.unit.gateway.test_proxy import LEGACY, ORDERS, FakeUpstream

pytestmark = pytest.mark.anyio

NOON = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
UNTIL = "2026-12-06T12:04:05Z"
ABORT = {"percent": 100, "abort_status": 503, "until": UNTIL}


class Faulted:
    """A proxy in front of the fake upstream whose `orders` route carries `fault`."""

    def __init__(
        self,
        fault: dict[str, Any],
        *,
        now: datetime = NOON,
        draw: float = 0.0,
        **route: Any,
    ) -> None:
        settings = {"mode": "extracted", **route}
        self.table = RouteTable.from_dict(
            {
                "upstreams": {"legacy": LEGACY, "orders": ORDERS},
                "routes": [
                    {
                        "name": "orders",
                        "match": ["/orders/**", "/users/{user_id}/orders"],
                        "extracted": "orders",
                        "fault": fault,
                        **settings,
                    }
                ],
            }
        )
        self.upstream = FakeUpstream()
        self.metrics = Metrics()
        self.breakers = Breakers(time.monotonic)
        proxy = Proxy(
            lambda: self.table,
            self.upstream,
            ProxyConfig(internal_token="s3cret"),
            metrics=self.metrics,
            breakers=self.breakers,
            clock=lambda: now,
            draw=lambda: draw,
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=proxy), base_url="http://shop.test"
        )

    def called(self) -> list[str]:
        return [call.url.split("/")[2] for call in self.upstream.calls]

    def injected(self, kind: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "gateway_faults_injected_total", {"route": "orders", "kind": kind}
        )
        return value or 0.0

    def fallbacks(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "gateway_fallbacks_total", {"route": "orders", "reason": reason}
        )
        return value or 0.0


async def test_an_aborted_read_falls_back_to_legacy_and_the_extracted_side_sees_nothing() -> None:
    f = Faulted(ABORT)
    async with f.client as c:
        response = await c.get("/orders/1")
    assert response.status_code == 200 and response.json()["served_by"] == LEGACY
    assert response.headers["x-strangler-fault"] == "abort"
    assert f.called() == ["legacy.test"]
    assert f.injected("abort") == 1 and f.fallbacks("status-503") == 1


async def test_an_aborted_write_gets_the_abort_status_as_a_real_5xx_would() -> None:
    f = Faulted(ABORT)
    async with f.client as c:
        response = await c.post("/orders/1", json={"x": 1})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-strangler-fault"] == "abort"
    problem = response.json()
    assert problem["type"].endswith("fault-injected") and problem["route"] == "orders"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert f.called() == []  # neither side got the write
    value = f.metrics.registry.get_sample_value(
        "gateway_requests_total", {"route": "orders", "target": "extracted", "status": "503"}
    )
    assert value == 1


async def test_aborts_open_the_breaker_as_real_failures_do() -> None:
    f = Faulted(ABORT, breaker={"consecutive_failures": 2})
    async with f.client as c:
        aborted = [(await c.post("/orders/1", json={})).status_code for _ in range(2)]
        after = await c.post("/orders/1", json={})
    assert aborted == [503, 503]
    assert [b["state"] for b in f.breakers.snapshot()] == ["open"]
    # the open breaker sends the route to legacy, where no fault is drawn
    assert after.status_code == 200 and after.json()["served_by"] == LEGACY
    assert "x-strangler-fault" not in after.headers
    assert f.injected("abort") == 2


async def test_a_4xx_abort_is_the_answer_even_to_a_read_and_no_breaker_failure() -> None:
    f = Faulted({**ABORT, "abort_status": 429}, breaker={"consecutive_failures": 1})
    async with f.client as c:
        response = await c.get("/orders/1")
    assert response.status_code == 429 and response.json()["status"] == 429
    assert f.called() == []
    assert [b["state"] for b in f.breakers.snapshot()] == ["closed"]


async def test_a_delay_within_the_timeout_delays_the_extracted_answer_and_says_so() -> None:
    f = Faulted({"percent": 100, "delay_ms": 150, "until": UNTIL}, timeout_s=2)
    async with f.client as c:
        started = time.perf_counter()
        response = await c.get("/orders/1")
        took = time.perf_counter() - started
    assert response.json()["served_by"] == ORDERS and took >= 0.15
    assert response.headers["x-strangler-fault"] == "delay"
    assert f.injected("delay") == 1 and f.injected("abort") == 0


async def test_a_delay_past_the_timeout_is_a_timeout_with_the_usual_rules() -> None:
    f = Faulted({"percent": 100, "delay_ms": 5_000, "until": UNTIL}, timeout_s=0.1)
    async with f.client as c:
        started = time.perf_counter()
        read = await c.get("/orders/1")
        took = time.perf_counter() - started
        write = await c.post("/orders/1", json={"x": 1})
    assert took < 1  # the route's timeout, not the fault's delay
    assert read.json()["served_by"] == LEGACY and f.fallbacks("UpstreamTimeout") == 1
    assert read.headers["x-strangler-fault"] == "delay"
    assert write.status_code == 504 and write.json()["outcome"] == "unknown"
    assert write.headers["x-strangler-fault"] == "delay"
    assert f.called() == ["legacy.test"]  # only the read's fallback


async def test_delay_then_abort_when_both_are_set() -> None:
    f = Faulted({**ABORT, "delay_ms": 100})
    async with f.client as c:
        started = time.perf_counter()
        response = await c.post("/orders/1", json={})
        took = time.perf_counter() - started
    assert response.status_code == 503 and took >= 0.1
    assert response.headers["x-strangler-fault"] == "delay, abort"


@pytest.mark.parametrize(
    ("case", "options", "headers"),
    [
        ("expired", {"now": datetime(2026, 12, 6, 12, 4, 5, tzinfo=UTC)}, {}),
        ("not drawn", {"draw": 0.5, "fault": {**ABORT, "percent": 50}}, {}),
        ("legacy mode", {"mode": "legacy"}, {}),
        ("canary keyless, on legacy", {"mode": "canary", "weight": 0, "sticky_key": "path:id"}, {}),
        (
            "developer override",
            {},
            {"X-Strangler-Target": "extracted", "X-Strangler-Token": "s3cret"},
        ),
    ],
)
async def test_no_fault_where_it_does_not_apply(
    case: str, options: dict[str, Any], headers: dict[str, str]
) -> None:
    f = Faulted(options.pop("fault", ABORT), **options)
    async with f.client as c:
        response = await c.get("/orders/1", headers=headers)
    assert response.status_code == 200, case
    assert "x-strangler-fault" not in response.headers, case
    assert f.injected("abort") == 0, case
    expected = (
        "orders.test" if case in ("expired", "not drawn", "developer override") else "legacy.test"
    )
    assert f.called() == [expected], case
