"""Signals in the real Redis: replicas add to the same per-second figures, a window sums
them with the parity counted in its seconds, and a Redis that is gone costs signals only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from gateway.metrics import Metrics
from gateway.parity import RedisParityStore
from gateway.signals import RedisSignalStore, SignalRecorder
from tests.conftest import free_port_base

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 0.5

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_two_replicas_flush_into_one_window_that_sums_them(
    redis: Redis, redis_url: str
) -> None:
    namespace = f"test-signals-{uuid.uuid4().hex}"
    clock = Clock()
    replicas = []
    for _ in range(2):  # each with its own connection, as two gateway processes would have
        own = Redis.from_url(redis_url)
        replicas.append((own, SignalRecorder(RedisSignalStore(own, namespace), clock=clock)))
    try:
        first, second = (recorder for _, recorder in replicas)
        for _ in range(90):
            first.record("orders", "extracted", 200, 0.020)
            second.record("orders", "legacy", 200, 0.010)
        for _ in range(10):
            second.record("orders", "extracted", 503, 0.200)
        clock.now += 1
        first.record("orders", "extracted", 200, 0.020)  # the next second
        await first.flush()
        await second.flush()
    finally:
        for own, _ in replicas:
            await own.aclose()

    store = RedisSignalStore(redis, namespace, clock=clock)
    figures = await store.window("orders", T0, T0 + 1)
    extracted, legacy = figures.sides["extracted"], figures.sides["legacy"]
    assert (extracted.requests, extracted.errors, extracted.error_rate) == (100, 10, 0.1)
    assert extracted.by_class == {"1xx": 0, "2xx": 90, "3xx": 0, "4xx": 0, "5xx": 10}
    assert extracted.p50_s == pytest.approx(0.020, rel=0.1)
    assert extracted.p99_s == pytest.approx(0.200, rel=0.1)
    assert (legacy.requests, legacy.errors) == (90, 0)
    assert legacy.p99_s == pytest.approx(0.010, rel=0.1)
    both = await store.window("orders", T0, T0 + 2)
    assert both.sides["extracted"].requests == 101
    # every hash goes after an hour
    ttl = await redis.ttl(f"{namespace}:signals:orders:extracted:{T0}")
    assert 3500 < ttl <= 3600


async def test_the_window_reads_the_parity_counted_in_its_seconds(redis: Redis) -> None:
    namespace = f"test-signals-{uuid.uuid4().hex}"
    clock = Clock()
    parity = RedisParityStore(redis, namespace, clock=clock)
    store = RedisSignalStore(redis, namespace, clock=clock)
    await parity.count("orders", "mismatch", 3, n=40)  # a bug, since fixed
    clock.now += 30
    await parity.count("orders", "match", 3, n=999)
    await parity.count("orders", "mismatch", 3, n=1)
    await parity.count("orders", "late", 3, n=7)  # beside parity, never in it
    recent = (await store.window("orders", clock.now - 10, clock.now + 1)).parity
    assert (recent.match, recent.mismatch, recent.parity) == (999, 1, 0.999)
    assert (await store.window("orders", T0, clock.now + 1)).parity.mismatch == 41
    await parity.reset("orders")  # a reset sets the recent seconds aside too
    assert (await store.window("orders", T0, clock.now + 1)).parity.parity is None


async def test_a_redis_that_is_gone_costs_the_batch_and_nothing_else() -> None:
    gone = Redis.from_url(
        f"redis://127.0.0.1:{free_port_base()}/0", socket_connect_timeout=1, socket_timeout=1
    )
    metrics = Metrics(CollectorRegistry())
    recorder = SignalRecorder(
        RedisSignalStore(gone, "test-signals-gone"), clock=Clock(), dropped=metrics.signals_dropped
    )
    try:
        for _ in range(25):
            recorder.record("orders", "extracted", 200, 0.020)
        await recorder.flush()  # no exception: the proxy's requests never see it
        await recorder.flush()  # and nothing was kept to be sent again
    finally:
        await gone.aclose()
    assert metrics.registry.get_sample_value("gateway_signals_dropped_total") == 25
