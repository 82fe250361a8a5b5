"""Per route and side, requests by status class and a latency histogram, added up per second
in Redis by every gateway replica: the figures a rollout gate reads.

The proxy calls `SignalRecorder.record` for every answer of a route that has an extracted
upstream: in memory, no I/O. `flush` (every `GATEWAY_SIGNALS_FLUSH_S`, 1 s) adds what came
in since the last one to per-second hashes `{namespace}:signals:{route}:{side}:{second}`
(fields: a status class, "2xx", or a latency bucket's index, "37"), kept an hour. Every
replica adds to the same hashes, so a window read sums them all. A flush that fails drops
its batch (counted in `gateway_signals_dropped_total`): memory never grows with an outage.

Latency buckets grow by 10% from 0.5 ms to about 32 s (117 bounds, and one past the last),
so a 20 ms p99 and a 24 ms one land two buckets apart. A quantile is interpolated linearly
inside the bucket its rank falls in (as Prometheus' histogram_quantile does): it is off by
less than one bucket's width, 10% of the value. Past the last bound it is that bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Counter as PromCounter
from redis.asyncio import Redis

from gateway.parity import InMemoryParityStore, second_key

log = logging.getLogger("gateway.signals")

SIDES = ("legacy", "extracted")
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
DIVERTED = "diverted"  # the field of requests an open breaker sent to the other side
KEEP_S = 3600  # per-second hashes live this long: the longest window a gate reads
LOWEST_S = 0.0005
GROWTH = 1.1
HIGHEST_S = 30.0
# upper bounds of the latency buckets; bucket i holds (BOUNDS[i-1], BOUNDS[i]], and bucket
# len(BOUNDS) everything slower than the last bound
BOUNDS: tuple[float, ...] = tuple(
    LOWEST_S * GROWTH**i
    for i in range(math.ceil(math.log(HIGHEST_S / LOWEST_S) / math.log(GROWTH)) + 1)
)

Clock = Callable[[], float]
Key = tuple[str, str, int]  # route, side, epoch second
Batch = Mapping[Key, Mapping[str, int]]  # field (status class or bucket index) -> count


def bucket(seconds: float) -> int:
    """The index of the latency bucket `seconds` falls in."""
    return bisect_left(BOUNDS, seconds)


def quantile(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, in seconds; None when it is empty."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile is between 0 and 1, not {q}")
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index in sorted(buckets):
        n = buckets[index]
        if n <= 0:
            continue
        lower = BOUNDS[index - 1] if index > 0 else 0.0
        if seen + n >= rank:
            if index >= len(BOUNDS):
                return lower  # slower than the last bound: all we know is "at least"
            return lower + (BOUNDS[index] - lower) * (rank - seen) / n
        seen += n
    return BOUNDS[-1]  # unreachable with q <= 1; keeps the type checker honest


@dataclass(frozen=True)
class SideFigures:
    """One side of a route over a window: requests, by status class, and their latencies."""

    requests: int = 0
    by_class: Mapping[str, int] = field(default_factory=dict)
    errors: int = 0  # 5xx, the gateway's own failure answers (502, 504) included
    buckets: Mapping[int, int] = field(default_factory=dict)  # latency bucket -> requests
    # requests meant for this side that its open circuit breaker sent to the other: not
    # answers (no class, no latency), but a rollout's error gate counts them as failures
    diverted: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def p50_s(self) -> float | None:
        return self.quantile(0.5)

    @property
    def p99_s(self) -> float | None:
        return self.quantile(0.99)

    def quantile(self, q: float) -> float | None:
        return quantile(self.buckets, q)

    @classmethod
    def from_fields(cls, fields: Mapping[str, int]) -> SideFigures:
        by_class = {name: fields.get(name, 0) for name in CLASSES}
        buckets = {
            int(k): n for k, n in fields.items() if k not in by_class and k != DIVERTED and n
        }
        diverted = fields.get(DIVERTED, 0)
        return cls(sum(by_class.values()), by_class, by_class["5xx"], buckets, diverted)


@dataclass(frozen=True)
class ParityFigures:
    """Shadow comparisons of a route over a window (gateway/parity.py)."""

    match: int = 0
    mismatch: int = 0

    @property
    def parity(self) -> float | None:
        compared = self.match + self.mismatch
        return self.match / compared if compared else None


@dataclass(frozen=True)
class RouteSignals:
    """A route's figures over the seconds whose first instant lies in [start, end)."""

    route: str
    start: float
    end: float
    sides: Mapping[str, SideFigures]
    parity: ParityFigures

    def to_dict(self) -> dict[str, Any]:
        """The admin API's shape: times in milliseconds."""
        return {
            "route": self.route,
            "window_s": round(self.end - self.start, 3),
            "sides": {name: _side_dict(side) for name, side in self.sides.items()},
            "parity": {
                "match": self.parity.match,
                "mismatch": self.parity.mismatch,
                "parity": _rounded(self.parity.parity, 6),
            },
        }


def _side_dict(side: SideFigures) -> dict[str, Any]:
    return {
        "requests": side.requests,
        "by_class": dict(side.by_class),
        "errors": side.errors,
        "error_rate": _rounded(side.error_rate, 6),
        "diverted": side.diverted,
        "p50_ms": _rounded(side.p50_s and side.p50_s * 1000, 3),
        "p99_ms": _rounded(side.p99_s and side.p99_s * 1000, 3),
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def seconds_of(start: float, end: float) -> range:
    """The epoch seconds whose first instant lies in [start, end)."""
    return range(math.ceil(start), math.ceil(end))


class SignalStore(Protocol):
    async def window(self, route: str, start: float, end: float) -> RouteSignals:
        """Both sides' figures and parity, summed over every replica, for the seconds
        whose first instant lies in [start, end). The newest flush interval (1 s) may still
        miss what some replicas have not flushed yet; seconds past the hour are gone."""
        ...


class SignalSink(Protocol):
    async def add(self, batch: Batch) -> None:
        """Add counts to the per-second figures."""
        ...


def _route_signals(
    route: str,
    start: float,
    end: float,
    sides: Iterable[Mapping[str, int]],
    parity: Mapping[str, int],
) -> RouteSignals:
    return RouteSignals(
        route,
        start,
        end,
        {name: SideFigures.from_fields(f) for name, f in zip(SIDES, sides, strict=True)},
        ParityFigures(parity.get("match", 0), parity.get("mismatch", 0)),
    )


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


class RedisSignalStore:
    """Per-second hashes in Redis, shared by every replica (the parity store's namespace)."""

    def __init__(self, redis: Redis, namespace: str, clock: Clock = time.time) -> None:
        self._redis = redis
        self._ns = namespace
        self._clock = clock

    def _key(self, route: str, side: str, second: int) -> str:
        return f"{self._ns}:signals:{route}:{side}:{second}"

    async def add(self, batch: Batch) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for (route, side, second), fields in batch.items():
            key = self._key(route, side, second)
            for name, n in fields.items():
                pipe.hincrby(key, name, n)
            pipe.expire(key, KEEP_S)
        await pipe.execute()

    async def window(self, route: str, start: float, end: float) -> RouteSignals:
        # nothing older than an hour is kept: a longer window reads no more keys
        seconds = seconds_of(max(start, self._clock() - KEEP_S), end)
        pipe = self._redis.pipeline(transaction=False)
        for side in SIDES:
            for second in seconds:
                pipe.hgetall(self._key(route, side, second))
        for second in seconds:
            pipe.hgetall(second_key(self._ns, route, second))
        found = iter(await pipe.execute())
        sides = [_summed(_ints(next(found)) for _ in seconds) for _ in SIDES]
        return _route_signals(route, start, end, sides, _summed(_ints(raw) for raw in found))


def _summed(counts: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return total


class InMemorySignalStore:
    """The same figures in this process (a gateway without Redis, and unit tests). Parity
    comes from `parity`, when given: the gateway's own in-memory parity store."""

    def __init__(self, clock: Clock = time.time, parity: InMemoryParityStore | None = None):
        self._clock = clock
        self._parity = parity
        self._seconds: dict[int, dict[tuple[str, str], Counter[str]]] = {}

    async def add(self, batch: Batch) -> None:
        for (route, side, second), fields in batch.items():
            self._seconds.setdefault(second, {}).setdefault((route, side), Counter()).update(fields)
        past = self._clock() - KEEP_S  # forgotten as Redis would expire them
        for second in [s for s in self._seconds if s < past]:
            del self._seconds[second]

    async def window(self, route: str, start: float, end: float) -> RouteSignals:
        seconds = seconds_of(max(start, self._clock() - KEEP_S), end)
        found = [self._seconds.get(second, {}) for second in seconds]
        sides = [_summed(at.get((route, side), Counter()) for at in found) for side in SIDES]
        parity: Mapping[str, int] = {}
        if self._parity is not None and seconds:
            parity = self._parity.per_second(route, seconds[0], seconds[-1])
        return _route_signals(route, start, end, sides, parity)


# a cell: one count per class, then per latency bucket (len(BOUNDS) + 1), then diverted
_BUCKETS = len(BOUNDS) + 1
_WIDTH = len(CLASSES) + _BUCKETS + 1
_DIVERTED_AT = _WIDTH - 1


class SignalRecorder:
    """Counts answers in memory (the hot path) and adds them to the store in batches."""

    def __init__(
        self,
        sink: SignalSink,
        clock: Clock = time.time,
        dropped: PromCounter | None = None,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._dropped = dropped
        # (route, side, second) -> counts per class, then per latency bucket: a flat list
        # of ints is the cheapest thing to add one to
        self._pending: dict[Key, list[int]] = {}
        self._failing = False
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, route: str, side: str, status: int, seconds: float) -> None:
        """One answer of `side` ("legacy" or "extracted"), `seconds` after it was sent."""
        key = (route, side, int(self._clock()))
        cell = self._pending.get(key)
        if cell is None:
            cell = self._pending[key] = [0] * _WIDTH
        # its class ("1xx".."5xx"; a status outside 100..599 is no proper answer: 5xx)
        cell[status // 100 - 1 if 100 <= status <= 599 else 4] += 1
        cell[len(CLASSES) + bisect_left(BOUNDS, seconds)] += 1

    def record_diverted(self, route: str) -> None:
        """A request meant for the extracted side that its open breaker sent to legacy."""
        key = (route, "extracted", int(self._clock()))
        cell = self._pending.get(key)
        if cell is None:
            cell = self._pending[key] = [0] * _WIDTH
        cell[_DIVERTED_AT] += 1

    async def flush(self) -> None:
        """Add everything recorded since the last flush to the store, in one round trip.
        A failure drops the batch and counts its requests: nothing is kept for a retry, so
        an outage of the store costs its signals, never memory or a request."""
        batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            await self._sink.add({key: _fields(cell) for key, cell in batch.items()})
        except Exception as exc:  # whatever failed, this batch is lost: count it, go on
            lost = sum(sum(cell[: len(CLASSES)]) for cell in batch.values())
            if self._dropped is not None:
                self._dropped.inc(lost)
            if not self._failing:  # once per outage, not once a second
                log.warning("signals dropped, the store failed: %s: %s", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            log.warning("signals reach the store again")
            self._failing = False

    def start(self, interval_s: float) -> None:
        """Flush every `interval_s` in the background until `stop`."""
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(interval_s, self._stopping), name="signals")

    async def stop(self) -> None:
        """Stop flushing in the background, after a last flush of what is left."""
        if self._task is None:
            await self.flush()
            return
        self._stopping.set()  # not a cancel: a flush under way would lose its batch
        await self._task
        self._task = None

    async def _run(self, interval_s: float, stopping: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval_s)
            await self.flush()
            if stopping.is_set():  # checked after the flush: stopped early, it still flushes
                return


def _fields(cell: list[int]) -> dict[str, int]:
    """The hash fields a cell adds to: status classes by name, latency buckets by index."""
    fields = {name: n for name, n in zip(CLASSES, cell, strict=False) if n}
    offset = len(CLASSES)
    fields.update(
        {str(i - offset): n for i, n in enumerate(cell) if offset <= i < _DIVERTED_AT and n}
    )
    if cell[_DIVERTED_AT]:
        fields[DIVERTED] = cell[_DIVERTED_AT]
    return fields
