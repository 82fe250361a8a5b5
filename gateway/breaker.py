"""Circuit breakers for upstreams: open on failures, cool down, probe, close; pure and clocked."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Literal

Clock = Callable[[], float]  # monotonic seconds
Reason = Literal["consecutive_failures", "error_rate", "probe_failed"]
WINDOW_BUCKETS = 10  # the rate window's resolution is window_s / WINDOW_BUCKETS


class State(StrEnum):
    CLOSED = "closed"  # requests go through; outcomes are counted
    OPEN = "open"  # requests are refused until the cool-down ends
    HALF_OPEN = "half_open"  # a few probes go through; their outcomes decide


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens, how long it stays open, and how many probes it sends."""

    consecutive_failures: int = 5  # open after this many failures in a row
    error_rate: float = 0.5  # ...or when failures / requests in the window exceeds this
    window_s: float = 10.0  # the sliding window the rate is measured over
    min_requests: int = 20  # the rate rule needs at least this many requests in the window
    open_s: float = 5.0  # cool-down before probing
    half_open_probes: int = 1  # probes allowed at once; all must succeed to close

    def __post_init__(self) -> None:
        for name in ("consecutive_failures", "min_requests", "half_open_probes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"breaker {name} must be an integer >= 1, got {value!r}")
        for name in ("window_s", "open_s"):
            value = getattr(self, name)
            if not _is_number(value) or not (value > 0 and math.isfinite(value)):
                raise ValueError(f"breaker {name} must be a positive number, got {value!r}")
        if not _is_number(self.error_rate) or not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"breaker error_rate must be from 0 to 1, got {self.error_rate!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> BreakerPolicy:
        """A policy from its declarative form (e.g. a route's `breaker` table); unset = default."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"breaker: unknown setting(s) {', '.join(sorted(unknown))}")
        return cls(**raw)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; hand it back to `record` or `release` exactly once."""

    generation: int  # the breaker's epoch when issued: outcomes from older epochs are ignored
    probe: int | None = None  # the probe slot it holds while half-open


@dataclass(frozen=True)
class Snapshot:
    """A breaker's state for the admin API and metrics."""

    state: State
    consecutive_failures: int
    window_requests: int
    window_failures: int
    open_for_s: float | None  # since it last opened; None while closed
    probes_in_flight: int
    reason: Reason | None  # why it last opened; None while closed

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "consecutive_failures": self.consecutive_failures,
            "window_requests": self.window_requests,
            "window_failures": self.window_failures,
            "open_for_s": self.open_for_s,
            "probes_in_flight": self.probes_in_flight,
            "reason": self.reason,
        }


class _Window:
    """Request and failure counts in a ring of time buckets: fixed memory, old buckets age out."""

    def __init__(self, span_s: float, buckets: int) -> None:
        self._width = span_s / buckets
        self._ticks: list[int | None] = [None] * buckets
        self._requests = [0] * buckets
        self._failures = [0] * buckets
        self._latest: int | None = None

    def _tick(self, now: float) -> int:
        tick = math.floor(now / self._width)
        # A clock that steps back counts in the newest bucket rather than an aged-out one.
        if self._latest is not None and tick < self._latest:
            return self._latest
        self._latest = tick
        return tick

    def add(self, now: float, failed: bool) -> None:
        tick = self._tick(now)
        slot = tick % len(self._ticks)
        if self._ticks[slot] != tick:
            self._ticks[slot], self._requests[slot], self._failures[slot] = tick, 0, 0
        self._requests[slot] += 1
        self._failures[slot] += failed

    def totals(self, now: float) -> tuple[int, int]:
        """Requests and failures in the buckets that are still inside the window."""
        tick = self._tick(now)
        oldest = tick - len(self._ticks)
        requests = failures = 0
        for t, r, f in zip(self._ticks, self._requests, self._failures, strict=True):
            if t is not None and t > oldest:
                requests, failures = requests + r, failures + f
        return requests, failures

    def clear(self) -> None:
        self._ticks = [None] * len(self._ticks)


class Breaker:
    """One upstream's breaker. Not thread-safe: the gateway drives it from one event loop.

    Every request `allow` lets through carries a `Permit`; hand it back to `record` or
    `release` exactly once (in a `finally`), or a half-open breaker keeps its probe slot.
    Permits from before a transition are ignored, so a slow request cannot close, re-open
    or free a slot in a breaker that has moved on since it started.
    """

    def __init__(self, policy: BreakerPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._window = _Window(policy.window_s, WINDOW_BUCKETS)
        self._state = State.CLOSED
        self._generation = 0  # bumped on every transition, so late outcomes can be recognised
        self._consecutive = 0
        self._opened_at: float | None = None
        self._reason: Reason | None = None
        self._probes: set[int] = set()
        self._probes_issued = 0
        self._probe_successes = 0

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    @property
    def state(self) -> State:
        """The state now: an open breaker whose cool-down has passed reads as half-open."""
        if (
            self._state is State.OPEN
            and self._opened_at is not None
            and self._clock() - self._opened_at >= self._policy.open_s
        ):
            self._enter(State.HALF_OPEN)
        return self._state

    def allow(self) -> Permit | None:
        """A permit when a request may go to this upstream now, else None (send it elsewhere)."""
        state = self.state
        if state is State.CLOSED:
            return Permit(self._generation)
        slots = self._policy.half_open_probes - len(self._probes) - self._probe_successes
        if state is not State.HALF_OPEN or slots <= 0:
            return None
        self._probes_issued += 1
        self._probes.add(self._probes_issued)
        return Permit(self._generation, probe=self._probes_issued)

    def record(self, permit: Permit, success: bool) -> None:
        """The outcome of a request sent under `permit`; only a failure can open the breaker."""
        if not self._is_live(permit):
            return  # issued before the last transition, or already handed back
        if permit.probe is not None:
            self._probes.discard(permit.probe)
            if not success:
                self._open("probe_failed", self._clock())
            else:
                self._probe_successes += 1
                if self._probe_successes >= self._policy.half_open_probes:
                    self._enter(State.CLOSED)
            return
        now = self._clock()
        self._window.add(now, failed=not success)
        if success:
            self._consecutive = 0
            return
        self._consecutive += 1
        if self._consecutive >= self._policy.consecutive_failures:
            self._open("consecutive_failures", now)
            return
        requests, failures = self._window.totals(now)
        if requests >= self._policy.min_requests and failures / requests > self._policy.error_rate:
            self._open("error_rate", now)

    def release(self, permit: Permit) -> None:
        """Hand back a permit whose request ended without an outcome worth counting."""
        if permit.probe is not None and self._is_live(permit):
            self._probes.discard(permit.probe)

    def reset(self) -> None:
        """Operator override: close now and forget the counts."""
        self._enter(State.CLOSED)

    def snapshot(self) -> Snapshot:
        state = self.state
        now = self._clock()
        requests, failures = self._window.totals(now)
        opened_at = self._opened_at
        return Snapshot(
            state=state,
            consecutive_failures=self._consecutive,
            window_requests=requests,
            window_failures=failures,
            open_for_s=None if opened_at is None else now - opened_at,
            probes_in_flight=len(self._probes),
            reason=self._reason,
        )

    def _is_live(self, permit: Permit) -> bool:
        if permit.generation != self._generation:
            return False
        return permit.probe is None or permit.probe in self._probes

    def _open(self, reason: Reason, now: float) -> None:
        self._enter(State.OPEN)
        self._opened_at = now
        self._reason = reason

    def _enter(self, state: State) -> None:
        self._state = state
        self._generation += 1
        self._probes.clear()
        self._probe_successes = 0
        if state is State.CLOSED:
            # Counts from before the trip would re-open a recovered upstream at once.
            self._consecutive = 0
            self._window.clear()
            self._opened_at = None
            self._reason = None


class Breakers:
    """The gateway's breakers, one per (route, upstream), created on first use."""

    def __init__(self, clock: Clock, policy: BreakerPolicy | None = None) -> None:
        self._clock = clock
        self._policy = policy or BreakerPolicy()
        self._breakers: dict[tuple[str, str], Breaker] = {}

    def get(self, route: str, upstream: str, policy: BreakerPolicy | None = None) -> Breaker:
        """The breaker for this pair; a changed policy starts a fresh breaker."""
        policy = policy or self._policy
        breaker = self._breakers.get((route, upstream))
        if breaker is None or breaker.policy != policy:
            breaker = self._breakers[(route, upstream)] = Breaker(policy, self._clock)
        return breaker

    def reset(self, route: str, upstream: str) -> bool:
        """Close one breaker; False when there is no such breaker."""
        breaker = self._breakers.get((route, upstream))
        if breaker is None:
            return False
        breaker.reset()
        return True

    def snapshot(self) -> list[dict[str, Any]]:
        """Every breaker, ordered by route then upstream."""
        return [
            {
                "route": route,
                "upstream": upstream,
                **self._breakers[(route, upstream)].snapshot().to_dict(),
            }
            for route, upstream in sorted(self._breakers)
        ]
