"""Mirrors give way while the gateway is busy, and the loop lag that says so."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.compare import Response
from gateway.lag import LoopLag
from gateway.parity import InMemoryParityStore
from gateway.routes import RouteTable
from gateway.shadow import MirrorJob, Shadow
from gateway.upstream import UpstreamResponse

pytestmark = pytest.mark.anyio

TABLE = RouteTable.from_dict(
    {
        "upstreams": {"legacy": "http://legacy.test", "orders": "http://orders.test"},
        "routes": [
            {
                "name": "orders",
                "match": "/orders/**",
                "extracted": "orders",
                "mode": "shadow",
                "shadow_sample": 1.0,
            }
        ],
    },
    version=1,
)
ROUTE = TABLE.routes[0]


class CountingUpstream:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, *_: Any) -> UpstreamResponse:
        self.sent += 1

        async def body() -> Any:
            yield b"{}"

        return UpstreamResponse(200, [("content-type", "application/json")], body())

    async def close(self) -> None:
        return None


def job() -> MirrorJob:
    return MirrorJob(
        route=ROUTE,
        table=TABLE,
        method="GET",
        url_tail="/orders/1",
        headers=[],
        body=b"",
        primary=Response(200, {"content-type": "application/json"}, b"{}"),
        request_id="r1",
    )


async def test_a_busy_gateway_mirrors_nothing_and_counts_every_mirror_it_dropped() -> None:
    upstream, parity, busy = CountingUpstream(), InMemoryParityStore(), [True]
    shadow = Shadow(upstream, parity, None, busy=lambda: busy[0])
    await shadow.start()
    try:
        assert [shadow.sampled(ROUTE) for _ in range(50)] == [False] * 50
        busy[0] = False
        assert shadow.sampled(ROUTE)
        assert shadow.offer(job())
        await shadow.drain()
    finally:
        await shadow.stop()
    figures = (await parity.figures())["orders"]
    assert (figures["dropped"], figures["match"], upstream.sent) == (50, 1, 1)


async def test_a_mirror_queued_before_the_gateway_got_busy_is_dropped_not_sent() -> None:
    upstream, parity, busy = CountingUpstream(), InMemoryParityStore(), [False]
    shadow = Shadow(upstream, parity, None, concurrency=1, busy=lambda: busy[0])
    assert all(shadow.offer(job()) for _ in range(3))  # no worker yet: all three wait
    busy[0] = True
    await shadow.start()
    try:
        await shadow.drain()
    finally:
        await shadow.stop()
    assert (await parity.figures())["orders"]["dropped"] == 3
    assert upstream.sent == 0


async def test_the_loop_lag_shows_a_loop_held_up_and_fades_once_it_runs_freely() -> None:
    lag = LoopLag(interval_s=0.01)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.08)  # the loop can run nothing else meanwhile, as under load
        await asyncio.sleep(0.002)  # the overdue tick runs first, the next is 10 ms away
        held = lag.seconds
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
    assert held >= 0.05
    assert lag.seconds < 0.01
