"""Circuit breakers: the opening rules, cool-down and probes, late outcomes, bounded memory."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gateway.breaker import Breaker, BreakerPolicy, Breakers, Permit, State


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: FakeClock | None = None, **policy: Any) -> Breaker:
    return Breaker(BreakerPolicy(**policy), clock or FakeClock())


def send(b: Breaker, success: bool, times: int = 1) -> None:
    for _ in range(times):
        permit = b.allow()
        assert permit is not None
        b.record(permit, success)


def tripped(clock: FakeClock, **policy: Any) -> Breaker:
    """A breaker that has just opened on one failure, cooling down for `open_s` (default 5)."""
    b = breaker(clock, consecutive_failures=1, **policy)
    send(b, False)
    assert b.state is State.OPEN
    return b


def test_a_new_breaker_is_closed_and_lets_every_request_through() -> None:
    b = breaker()
    assert b.state is State.CLOSED
    assert all(b.allow() is not None for _ in range(100))


def test_it_opens_after_the_configured_number_of_failures_in_a_row() -> None:
    b = breaker(consecutive_failures=3)
    send(b, False, times=2)
    assert b.state is State.CLOSED
    send(b, False)
    assert b.state is State.OPEN
    assert b.snapshot().reason == "consecutive_failures"


def test_a_success_in_between_starts_the_run_of_failures_again() -> None:
    b = breaker(consecutive_failures=3, min_requests=1000)
    for _ in range(10):
        send(b, False, times=2)
        send(b, True)
    assert b.state is State.CLOSED


def test_the_error_rate_rule_waits_for_the_minimum_number_of_requests() -> None:
    b = breaker(consecutive_failures=100, error_rate=0.5, min_requests=10)
    for _ in range(4):
        send(b, True)
        send(b, False)
    send(b, False)  # 5 failures out of 9: over the rate, under the minimum
    assert b.state is State.CLOSED
    send(b, False)  # 6 out of 10
    assert b.state is State.OPEN
    assert b.snapshot().reason == "error_rate"


def test_the_error_rate_must_exceed_the_threshold_not_merely_reach_it() -> None:
    b = breaker(consecutive_failures=100, error_rate=0.5, min_requests=4)
    send(b, True, times=2)
    send(b, False, times=2)  # exactly half
    assert b.state is State.CLOSED
    send(b, False)
    assert b.state is State.OPEN


def test_outcomes_older_than_the_window_no_longer_count_toward_the_rate() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=100, error_rate=0.5, min_requests=10, window_s=10.0)
    send(b, False, times=2)
    send(b, True)
    send(b, False, times=2)
    send(b, True)  # 4 failures out of 6
    clock.now += 10.0  # all six have aged out
    assert (b.snapshot().window_requests, b.snapshot().window_failures) == (0, 0)
    send(b, True, times=5)
    send(b, False, times=5)  # only these 10 count: exactly half, so it stays closed
    assert b.state is State.CLOSED


def test_the_window_slides_a_bucket_at_a_time() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=100, min_requests=100, window_s=10.0)
    send(b, False)
    clock.now += 5.0
    send(b, True, times=2)
    clock.now += 5.0  # the first bucket has aged out, the second is still inside
    assert (b.snapshot().window_requests, b.snapshot().window_failures) == (2, 0)


def test_a_success_never_opens_the_breaker_even_as_the_rate_rises() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=100, error_rate=0.5, min_requests=4, window_s=10.0)
    send(b, True, times=10)
    clock.now += 5.0
    send(b, False)
    send(b, True)
    send(b, False, times=2)  # 3 of 14 failed
    clock.now += 5.0  # the ten successes age out: 3 of 4 failed, but no failure since
    assert b.state is State.CLOSED
    send(b, True)
    assert b.state is State.CLOSED
    send(b, False)
    assert b.state is State.OPEN


def test_an_open_breaker_refuses_requests_until_the_cool_down_has_passed() -> None:
    clock = FakeClock()
    b = tripped(clock, open_s=5.0)
    clock.now += 4.999
    assert b.allow() is None
    assert b.state is State.OPEN
    clock.now += 0.001
    assert b.state is State.HALF_OPEN


def test_half_open_lets_exactly_the_configured_number_of_probes_through_at_once() -> None:
    clock = FakeClock()
    b = tripped(clock, half_open_probes=3)
    clock.now += 5.0
    probes = [b.allow() for _ in range(3)]
    assert all(p is not None for p in probes)
    assert b.allow() is None
    assert b.snapshot().probes_in_flight == 3


def test_probes_that_all_succeed_close_the_breaker_and_clear_the_counts() -> None:
    clock = FakeClock()
    b = tripped(clock, half_open_probes=2)
    clock.now += 5.0
    first, second = b.allow(), b.allow()
    assert first is not None and second is not None
    b.record(first, True)
    assert b.state is State.HALF_OPEN
    assert b.allow() is None  # a successful probe does not make room for another
    b.record(second, True)
    snapshot = b.snapshot()
    assert snapshot.state is State.CLOSED
    assert (snapshot.consecutive_failures, snapshot.window_requests) == (0, 0)
    assert (snapshot.open_for_s, snapshot.reason) == (None, None)


def test_a_failed_probe_reopens_the_breaker_with_a_fresh_cool_down() -> None:
    clock = FakeClock()
    b = tripped(clock, half_open_probes=2, open_s=5.0)
    clock.now += 7.0
    first, second = b.allow(), b.allow()
    assert first is not None and second is not None
    b.record(first, False)
    assert b.state is State.OPEN and b.snapshot().reason == "probe_failed"
    b.record(second, True)  # the other probe's success comes too late to matter
    assert b.state is State.OPEN
    clock.now += 4.9
    assert b.allow() is None
    clock.now += 0.1
    assert b.allow() is not None


def test_a_late_success_from_before_the_trip_does_not_close_an_open_breaker() -> None:
    b = breaker(consecutive_failures=1)
    slow = b.allow()
    assert slow is not None
    send(b, False)
    b.record(slow, True)
    assert b.state is State.OPEN


def test_a_late_outcome_from_before_the_trip_is_not_taken_for_a_probe() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=1, half_open_probes=1)
    slow_success, slow_failure = b.allow(), b.allow()
    assert slow_success is not None and slow_failure is not None
    send(b, False)
    clock.now += 5.0
    probe = b.allow()
    assert probe is not None
    b.record(slow_success, True)
    b.record(slow_failure, False)
    assert b.state is State.HALF_OPEN and b.snapshot().probes_in_flight == 1
    b.record(probe, True)
    assert b.state is State.CLOSED


def test_releasing_a_probe_frees_its_slot_without_counting_as_a_success() -> None:
    clock = FakeClock()
    b = tripped(clock)
    clock.now += 5.0
    probe = b.allow()
    assert probe is not None and b.allow() is None
    b.release(probe)
    assert b.state is State.HALF_OPEN
    again = b.allow()
    assert again is not None
    b.record(again, True)
    assert b.state is State.CLOSED


def test_releasing_a_request_from_before_the_trip_does_not_free_a_probe_slot() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=1)
    slow = b.allow()
    assert slow is not None
    send(b, False)
    clock.now += 5.0
    assert b.allow() is not None
    b.release(slow)
    assert b.allow() is None


def test_a_probe_handed_back_twice_counts_once() -> None:
    clock = FakeClock()
    b = tripped(clock, half_open_probes=2)
    clock.now += 5.0
    probe = b.allow()
    assert probe is not None
    b.record(probe, True)
    b.record(probe, True)
    b.release(probe)
    assert b.state is State.HALF_OPEN
    assert b.snapshot().probes_in_flight == 0


def test_a_released_request_while_closed_is_not_counted() -> None:
    b = breaker()
    permit = b.allow()
    assert permit is not None
    b.release(permit)
    assert b.snapshot().window_requests == 0


def test_an_operator_reset_closes_the_breaker_and_forgets_the_counts() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=2)
    stale = b.allow()
    assert stale is not None
    send(b, False, times=2)
    b.reset()
    assert b.state is State.CLOSED and b.snapshot().window_requests == 0
    b.record(stale, False)  # from before the reset: ignored
    send(b, False)
    assert b.state is State.CLOSED


def test_the_snapshot_reports_state_counts_and_how_long_it_has_been_open() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=3)
    send(b, True)
    send(b, False, times=3)
    clock.now += 2.5
    assert b.snapshot().to_dict() == {
        "state": "open",
        "consecutive_failures": 3,
        "window_requests": 4,
        "window_failures": 3,
        "open_for_s": 2.5,
        "probes_in_flight": 0,
        "reason": "consecutive_failures",
    }


def test_memory_stays_flat_however_many_outcomes_are_recorded() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=10**9, error_rate=1.0)
    baseline = 0
    tracemalloc.start()
    try:
        for i in range(100_000):
            clock.now = 1000.0 + i / 1000  # 100 seconds: the window's ring wraps ten times
            send(b, i % 3 != 0)
            if i == 10_000:
                baseline = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert grown < 1024  # a per-outcome leak would show as at least 90,000 allocations
    assert b.state is State.CLOSED and b.snapshot().window_requests == 10_000


def test_a_policy_from_a_mapping_keeps_the_defaults_it_does_not_set() -> None:
    policy = BreakerPolicy.from_mapping({"consecutive_failures": 3, "open_s": 30})
    assert policy == BreakerPolicy(consecutive_failures=3, open_s=30.0)
    assert BreakerPolicy.from_mapping({}) == BreakerPolicy()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"consecutive_failures": 0}, "consecutive_failures"),
        ({"consecutive_failures": 2.5}, "consecutive_failures"),
        ({"consecutive_failures": True}, "consecutive_failures"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"error_rate": float("nan")}, "error_rate"),
        ({"error_rate": "0.5"}, "error_rate"),
        ({"window_s": 0}, "window_s"),
        ({"window_s": float("inf")}, "window_s"),
        ({"min_requests": -1}, "min_requests"),
        ({"open_s": -5.0}, "open_s"),
        ({"open_s": None}, "open_s"),
        ({"half_open_probes": 0}, "half_open_probes"),
        ({"half_open_probs": 2}, "half_open_probs"),
    ],
)
def test_an_unusable_policy_setting_is_refused_by_name(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BreakerPolicy.from_mapping(raw)


def test_the_registry_keeps_one_breaker_per_route_and_upstream() -> None:
    breakers = Breakers(FakeClock(), BreakerPolicy(consecutive_failures=1))
    send(breakers.get("orders", "orders-svc"), False)
    assert breakers.get("orders", "orders-svc").state is State.OPEN
    assert breakers.get("history", "orders-svc").state is State.CLOSED
    assert breakers.get("orders", "legacy").state is State.CLOSED


def test_a_route_with_a_changed_policy_gets_a_fresh_breaker() -> None:
    breakers = Breakers(FakeClock(), BreakerPolicy(consecutive_failures=1))
    send(breakers.get("orders", "orders-svc"), False)
    same = BreakerPolicy(consecutive_failures=1)
    assert breakers.get("orders", "orders-svc", same).state is State.OPEN
    looser = BreakerPolicy(consecutive_failures=5)
    assert breakers.get("orders", "orders-svc", looser).state is State.CLOSED


def test_an_operator_can_reset_one_breaker_through_the_registry() -> None:
    breakers = Breakers(FakeClock(), BreakerPolicy(consecutive_failures=1))
    send(breakers.get("orders", "orders-svc"), False)
    assert breakers.reset("orders", "orders-svc") is True
    assert breakers.get("orders", "orders-svc").state is State.CLOSED
    assert breakers.reset("orders", "nowhere") is False


def test_the_registry_snapshot_lists_every_breaker_by_route_then_upstream() -> None:
    breakers = Breakers(FakeClock(), BreakerPolicy(consecutive_failures=1))
    send(breakers.get("users", "users-svc"), False)
    breakers.get("orders", "orders-svc")
    rows = breakers.snapshot()
    assert [(r["route"], r["upstream"], r["state"]) for r in rows] == [
        ("orders", "orders-svc", "closed"),
        ("users", "users-svc", "open"),
    ]


@settings(max_examples=300)
@given(
    outcomes=st.lists(st.booleans(), max_size=60),
    run=st.integers(1, 8),
    rate=st.sampled_from([0.0, 0.2, 0.5, 0.75, 1.0]),
    minimum=st.integers(1, 30),
)
def test_with_a_still_clock_it_opens_exactly_when_a_rule_first_holds(
    outcomes: list[bool], run: int, rate: float, minimum: int
) -> None:
    b = breaker(consecutive_failures=run, error_rate=rate, min_requests=minimum)
    requests = failures = streak = 0
    for success in outcomes:
        assert b.state is State.CLOSED
        send(b, success)
        requests, failures = requests + 1, failures + (not success)
        streak = 0 if success else streak + 1
        by_rate = requests >= minimum and failures / requests > rate
        expected = not success and (streak >= run or by_rate)
        assert (b.state is State.OPEN) is expected
        if expected:
            break


@dataclass(frozen=True)
class Held:
    permit: Permit
    episode: int  # the model's count of observed state changes when the permit was issued
    probe: bool


class BreakerMachine(RuleBasedStateMachine):
    """Random traffic, time and resets against a model of the half-open bookkeeping."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.breaker = Breaker(BreakerPolicy(), self.clock)
        self.held: list[Held] = []
        self.seen = State.CLOSED
        self.episode = 0
        self.probe_successes = 0
        self.failures_since_closed = 0

    @initialize(
        run=st.integers(1, 4),
        rate=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
        window=st.sampled_from([1.0, 10.0]),
        minimum=st.integers(1, 6),
        cool_down=st.sampled_from([0.5, 5.0]),
        probes=st.integers(1, 3),
    )
    def build(
        self, run: int, rate: float, window: float, minimum: int, cool_down: float, probes: int
    ) -> None:
        policy = BreakerPolicy(run, rate, window, minimum, cool_down, probes)
        self.breaker = Breaker(policy, self.clock)

    def observe(self) -> State:
        state = self.breaker.state
        if state is not self.seen:
            self.seen, self.episode, self.probe_successes = state, self.episode + 1, 0
        if state is State.CLOSED:
            self.failures_since_closed = 0
        return state

    def outstanding_probes(self) -> int:
        return sum(1 for h in self.held if h.probe and h.episode == self.episode)

    @rule(seconds=st.sampled_from([0.0, 0.1, 0.4, 1.0, 3.0, 6.0]))
    def wait(self, seconds: float) -> None:
        self.clock.now += seconds
        self.observe()

    @rule()
    def allow(self) -> None:
        state = self.observe()
        permit = self.breaker.allow()
        if state is State.HALF_OPEN:
            room = self.outstanding_probes() + self.probe_successes
            assert (permit is not None) is (room < self.breaker.policy.half_open_probes)
        else:
            assert (permit is not None) is (state is State.CLOSED)
        if permit is not None:
            self.held.append(Held(permit, self.episode, state is State.HALF_OPEN))
        assert self.observe() is state

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 10**6), success=st.booleans())
    def record(self, index: int, success: bool) -> None:
        held = self.held.pop(index % len(self.held))
        before = self.observe()
        live = held.episode == self.episode
        if live and not success:
            self.failures_since_closed += 1
        expected: State | None = before if not live else None
        if live and held.probe:
            self.probe_successes += success
            expected = State.HALF_OPEN if success else State.OPEN
            if self.probe_successes >= self.breaker.policy.half_open_probes:
                expected = State.CLOSED
        elif live and success:
            expected = State.CLOSED
        self.breaker.record(held.permit, success)
        after = self.observe()
        assert expected is None or after is expected, f"{before} -> {after}, not {expected}"

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 10**6))
    def release(self, index: int) -> None:
        held = self.held.pop(index % len(self.held))
        before = self.observe()
        self.breaker.release(held.permit)
        assert self.observe() is before

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        self.episode += 1  # permits from before a reset are stale even if it was closed
        self.seen = State.CLOSED
        self.probe_successes = 0
        assert self.observe() is State.CLOSED

    @invariant()
    def half_open_never_has_more_probes_in_flight_than_allowed(self) -> None:
        state = self.observe()
        in_flight = self.breaker.snapshot().probes_in_flight
        if state is State.HALF_OPEN:
            assert in_flight == self.outstanding_probes()
            assert in_flight <= self.breaker.policy.half_open_probes
        else:
            assert in_flight == 0

    @invariant()
    def it_is_never_open_without_a_failure_since_it_last_closed(self) -> None:
        if self.observe() is not State.CLOSED:
            assert self.failures_since_closed > 0


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60)
test_the_breaker_keeps_its_promises_under_random_traffic_time_and_resets = BreakerMachine.TestCase
