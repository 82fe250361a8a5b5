"""Mirrors give way while the gateway is busy, and the loop load that says so."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.compare import Response
from gateway.load import LoopLoad
from gateway.metrics import Metrics
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
    upstream, parity, busy, metrics = CountingUpstream(), InMemoryParityStore(), [True], Metrics()
    shadow = Shadow(upstream, parity, None, busy=lambda: busy[0], metrics=metrics)
    await shadow.start()
    try:
        assert [shadow.sampled(ROUTE, 1) for _ in range(50)] == [False] * 50
        busy[0] = False
        assert shadow.sampled(ROUTE, 1)
        assert shadow.offer(job())
        await shadow.drain()
    finally:
        await shadow.stop()
    figures = (await parity.figures())["orders"]
    assert (figures["dropped"], figures["match"], upstream.sent) == (50, 1, 1)
    dropped = metrics.registry.get_sample_value(
        "gateway_shadow_total", {"route": "orders", "outcome": "dropped"}
    )
    assert dropped == 50  # counted in a batch, as the parity store is


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


def spin(seconds: float) -> None:
    """Hold the loop's thread on the CPU, as a burst of requests does."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def test_the_loop_load_reads_busy_while_the_loop_computes_and_fades_once_it_idles() -> None:
    load = LoopLoad(interval_s=0.01)
    task = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(0.1)
        idle_before = load.busy
        spin(0.08)  # the loop can run nothing else meanwhile, as under load
        await asyncio.sleep(0.002)  # the overdue tick runs first, the next is 10 ms away
        held, late = load.busy, load.lag_s
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
    assert idle_before < 0.5
    assert held > 0.7  # 80 ms on the CPU in a tick of about 90: the clients wait
    assert late >= 0.05
    assert load.busy < 0.5
    assert load.lag_s < 0.01


async def test_a_loop_that_sleeps_is_not_busy_however_late_its_timers_run() -> None:
    """A blocking call that waits (not computes) delays timers but leaves the CPU free:
    busy tells the two apart, which the lag alone cannot."""
    load = LoopLoad(interval_s=0.01)
    task = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.08)
        await asyncio.sleep(0.002)
    finally:
        task.cancel()
    assert load.lag_s >= 0.05
    assert load.busy < 0.5
