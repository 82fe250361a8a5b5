"""Signals in memory: recording, flushing per second, status classes, quantiles, windows,
and a store that fails (the proxy's side of it: tests/unit/gateway/test_proxy.py)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry

from gateway.metrics import Metrics
from gateway.parity import InMemoryParityStore
from gateway.signals import (
    BOUNDS,
    Batch,
    InMemorySignalStore,
    ParityFigures,
    SideFigures,
    SignalRecorder,
    quantile,
)

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000  # a whole epoch second


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 0.25

    def __call__(self) -> float:
        return self.now


def recorder_and_store() -> tuple[SignalRecorder, InMemorySignalStore, Clock]:
    clock = Clock()
    store = InMemorySignalStore(clock=clock)
    return SignalRecorder(store, clock=clock), store, clock


async def test_answers_are_counted_by_status_class_and_5xx_are_the_errors() -> None:
    recorder, store, _ = recorder_and_store()
    for status in (200, 201, 204, 302, 404, 500, 502, 504):
        recorder.record("orders", "extracted", status, 0.010)
    recorder.record("orders", "legacy", 200, 0.010)
    await recorder.flush()
    figures = await store.window("orders", T0, T0 + 1)
    extracted = figures.sides["extracted"]
    assert extracted.requests == 8
    assert extracted.by_class == {"1xx": 0, "2xx": 3, "3xx": 1, "4xx": 1, "5xx": 3}
    assert extracted.errors == 3 and extracted.error_rate == 3 / 8
    assert figures.sides["legacy"].requests == 1 and figures.sides["legacy"].error_rate == 0


async def test_a_side_without_requests_has_no_rate_and_no_latency() -> None:
    recorder, store, _ = recorder_and_store()
    recorder.record("orders", "legacy", 200, 0.010)
    await recorder.flush()
    extracted = (await store.window("orders", T0, T0 + 1)).sides["extracted"]
    assert (extracted.requests, extracted.error_rate, extracted.p50_s, extracted.p99_s) == (
        0,
        None,
        None,
        None,
    )
    assert ParityFigures().parity is None


def bucket_of(seconds: float) -> int:
    """The first bucket whose upper bound is at least `seconds`."""
    return next(i for i, bound in enumerate(BOUNDS) if seconds <= bound)


def histogram(latencies: Mapping[float, int]) -> SideFigures:
    fields: dict[str, int] = {"2xx": sum(latencies.values())}
    for seconds, n in latencies.items():
        fields[str(bucket_of(seconds))] = fields.get(str(bucket_of(seconds)), 0) + n
    return SideFigures.from_fields(fields)


def test_buckets_tell_a_p99_of_20_ms_from_one_of_24_ms_within_ten_percent() -> None:
    p99_20 = histogram({0.020: 1000}).p99_s
    p99_24 = histogram({0.024: 1000}).p99_s
    assert p99_20 is not None and p99_24 is not None
    assert p99_20 == pytest.approx(0.020, rel=0.1) and p99_24 == pytest.approx(0.024, rel=0.1)
    assert p99_24 / p99_20 > 1.1


def test_the_p99_sees_a_slow_tail_the_p50_does_not() -> None:
    side = histogram({0.010: 980, 0.200: 20})
    assert side.p50_s == pytest.approx(0.010, rel=0.1)
    assert side.p99_s == pytest.approx(0.200, rel=0.1)
    assert side.quantile(0.98) == pytest.approx(0.010, rel=0.1)


def test_quantiles_interpolate_inside_a_bucket_and_stop_at_the_last_bound() -> None:
    # bucket 10 holds (BOUNDS[9], BOUNDS[10]]: its quarter-way point is a quarter of the way
    assert quantile({10: 4}, 0.25) == pytest.approx(BOUNDS[9] + (BOUNDS[10] - BOUNDS[9]) / 4)
    # slower than the last bound (a 60 s answer): all that is known is "at least"
    assert quantile({len(BOUNDS): 3}, 0.99) == BOUNDS[-1]
    assert BOUNDS[0] == 0.0005 and BOUNDS[-1] >= 30
    assert all(b / a == pytest.approx(1.1) for a, b in itertools.pairwise(BOUNDS))
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile({10: 1}, 99)


async def test_a_flush_writes_each_second_once_and_windows_cover_whole_seconds() -> None:
    recorder, store, clock = recorder_and_store()
    recorder.record("orders", "extracted", 200, 0.010)
    clock.now += 1  # the next second
    recorder.record("orders", "extracted", 500, 0.010)
    recorder.record("orders", "extracted", 200, 0.010)
    await recorder.flush()
    await recorder.flush()  # nothing new: nothing added twice

    def requests(start: float, end: float) -> int:
        return store_window[(start, end)].sides["extracted"].requests

    store_window = {
        span: await store.window("orders", *span)
        for span in ((T0, T0 + 1), (T0 + 1, T0 + 2), (T0, T0 + 2), (T0 - 0.5, T0 + 1.5))
    }
    assert requests(T0, T0 + 1) == 1
    assert requests(T0 + 1, T0 + 2) == 2
    assert requests(T0, T0 + 2) == 3
    # a second belongs to a window when its first instant does: T0 does, T0 + 1 too
    assert requests(T0 - 0.5, T0 + 1.5) == 3
    assert store_window[(T0 + 1, T0 + 2)].sides["extracted"].errors == 1


async def test_routes_and_sides_are_kept_apart() -> None:
    recorder, store, _ = recorder_and_store()
    recorder.record("orders", "extracted", 200, 0.010)
    recorder.record("orders", "legacy", 503, 0.010)
    recorder.record("catalog", "extracted", 200, 0.010)
    await recorder.flush()
    orders = await store.window("orders", T0, T0 + 1)
    assert (orders.sides["extracted"].requests, orders.sides["extracted"].errors) == (1, 0)
    assert (orders.sides["legacy"].requests, orders.sides["legacy"].errors) == (1, 1)
    catalog = await store.window("catalog", T0, T0 + 1)
    assert catalog.sides["extracted"].requests == 1 and catalog.sides["legacy"].requests == 0


async def test_the_window_holds_the_parity_counted_in_its_seconds() -> None:
    clock = Clock()
    parity = InMemoryParityStore(clock=clock)
    store = InMemorySignalStore(clock=clock, parity=parity)
    await parity.count("orders", "mismatch", 3, n=5)  # at T0
    clock.now += 10
    await parity.count("orders", "match", 3, n=999)
    await parity.count("orders", "mismatch", 3, n=1)
    await parity.count("orders", "late", 3, n=7)  # beside parity, never in it
    recent = (await store.window("orders", T0 + 5, T0 + 11)).parity
    assert (recent.match, recent.mismatch, recent.parity) == (999, 1, 0.999)
    both = (await store.window("orders", T0, T0 + 11)).parity
    assert (both.match, both.mismatch) == (999, 6)


async def test_seconds_older_than_an_hour_are_forgotten() -> None:
    recorder, store, clock = recorder_and_store()
    recorder.record("orders", "extracted", 200, 0.010)
    await recorder.flush()
    clock.now += 3601
    recorder.record("orders", "extracted", 200, 0.010)
    await recorder.flush()
    figures = await store.window("orders", T0 - 10, clock.now + 1)
    assert figures.sides["extracted"].requests == 1


class BrokenStore:
    def __init__(self) -> None:
        self.broken = True
        self.added: list[Batch] = []

    async def add(self, batch: Batch) -> None:
        if self.broken:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.added.append(batch)


async def test_a_failing_store_drops_the_batch_counts_it_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics(CollectorRegistry())
    store = BrokenStore()
    recorder = SignalRecorder(store, clock=Clock(), dropped=metrics.signals_dropped)
    with caplog.at_level(logging.WARNING, logger="gateway.signals"):
        for _ in range(3):
            recorder.record("orders", "extracted", 200, 0.010)
            recorder.record("orders", "legacy", 200, 0.010)
            await recorder.flush()  # never raises
        store.broken = False
        recorder.record("orders", "extracted", 200, 0.010)
        await recorder.flush()
    dropped = metrics.registry.get_sample_value("gateway_signals_dropped_total")
    assert dropped == 6
    # nothing kept for a retry: the batch after the outage is that second's alone
    assert store.added == [{("orders", "extracted", T0): {"2xx": 1, str(bucket_of(0.010)): 1}}]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "signals dropped, the store failed: ConnectionError" in messages[0]
    assert messages[1] == "signals reach the store again"


async def test_stopping_flushes_what_is_left() -> None:
    recorder, store, _ = recorder_and_store()
    recorder.start(interval_s=60)  # the background flush will not come round in this test
    recorder.record("orders", "extracted", 200, 0.010)
    await recorder.stop()
    assert (await store.window("orders", T0, T0 + 1)).sides["extracted"].requests == 1


async def test_the_background_task_flushes_every_interval() -> None:
    clock = Clock()
    store = InMemorySignalStore(clock=clock)
    recorder = SignalRecorder(store, clock=clock)
    recorder.start(interval_s=0.01)
    try:
        recorder.record("orders", "extracted", 200, 0.010)
        for _ in range(200):
            if (await store.window("orders", T0, T0 + 1)).sides["extracted"].requests:
                break
            await asyncio.sleep(0.01)
        assert (await store.window("orders", T0, T0 + 1)).sides["extracted"].requests == 1
    finally:
        await recorder.stop()


async def test_requests_an_open_breaker_diverted_are_counted_apart_from_answers() -> None:
    recorder, store, _ = recorder_and_store()
    recorder.record("orders", "extracted", 503, 0.010)
    for _ in range(3):
        recorder.record_diverted("orders")
        recorder.record("orders", "legacy", 200, 0.010)
    await recorder.flush()
    figures = await store.window("orders", T0, T0 + 1)
    extracted = figures.sides["extracted"]
    assert (extracted.requests, extracted.errors, extracted.diverted) == (1, 1, 3)
    assert sum(extracted.buckets.values()) == 1  # a diverted request has no latency
    assert figures.sides["legacy"].requests == 3
