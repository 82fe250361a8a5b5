"""Reading gates and rollout specs, and judging a gate over a window's figures."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from gateway.rollouts.gates import GateError, judge, overall, parse_gate
from gateway.rollouts.spec import RolloutSpec, SpecError, parse_duration


@dataclass(frozen=True)
class Side:
    requests: int = 0
    errors: int = 0
    diverted: int = 0
    latencies: tuple[float, ...] = ()

    def quantile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Parity:
    match: int = 0
    mismatch: int = 0


@dataclass(frozen=True)
class Signals:
    sides: Mapping[str, Side] = field(
        default_factory=lambda: {"legacy": Side(), "extracted": Side()}
    )
    parity: Parity = Parity()


def signals(legacy: Side = Side(), extracted: Side = Side(), parity: Parity = Parity()) -> Signals:
    return Signals({"legacy": legacy, "extracted": extracted}, parity)


EMPTY = signals()


@pytest.mark.parametrize(
    ("text", "metric", "threshold", "relative"),
    [
        ("parity>=0.999", "parity", 0.999, False),
        ("parity >= 99.9%", "parity", 0.999, False),
        ("errors<=0.5%", "errors", 0.005, False),
        ("p99<=1.2x legacy", "p99", 1.2, True),
        ("p95<=250ms", "p95", 0.25, False),
        ("p99.9<=2s", "p99.9", 2.0, False),
    ],
)
def test_the_gates_an_operator_writes_are_read_as_meant(
    text: str, metric: str, threshold: float, relative: bool
) -> None:
    gate = parse_gate(text)
    assert (gate.metric, gate.relative) == (metric, relative)
    assert gate.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    "text",
    ["parity<=0.9", "errors>=1%", "errors<=150%", "p99>=1s", "p99<=1.2", "p30<=1s", "latency<1s"],
)
def test_a_gate_that_cannot_mean_anything_is_refused_with_the_forms_that_can(text: str) -> None:
    with pytest.raises(GateError):
        parse_gate(text)


def test_too_few_requests_is_inconclusive_not_a_pass() -> None:
    window = signals(extracted=Side(requests=199, errors=0, latencies=(0.01,) * 199))
    verdict = judge(parse_gate("errors<=0.5%"), "products", window, window, min_requests=200)
    assert verdict.outcome == "inconclusive"
    assert "199 requests" in verdict.detail


def test_an_error_rate_over_the_threshold_fails_and_says_by_how_much() -> None:
    window = signals(extracted=Side(requests=400, errors=8, latencies=(0.01,) * 400))
    verdict = judge(parse_gate("errors<=0.5%"), "products", window, window, min_requests=200)
    assert verdict.outcome == "fail"
    assert verdict.value == pytest.approx(0.02)
    assert "8 of 400" in verdict.detail


def test_requests_an_open_breaker_kept_from_the_extracted_side_count_as_its_errors() -> None:
    window = signals(extracted=Side(requests=4, errors=2, diverted=40, latencies=(0.01,) * 4))
    verdict = judge(parse_gate("errors<=1%"), "products", window, window, min_requests=20)
    assert verdict.outcome == "fail"
    assert "40 diverted by the open breaker" in verdict.detail


def test_latency_against_legacy_uses_the_whole_rollout_when_legacy_answers_nothing_now() -> None:
    gate = parse_gate("p99<=1.2x legacy")
    fast = Side(requests=300, latencies=(0.010,) * 300)
    window = signals(legacy=Side(), extracted=fast)  # at 100%, legacy answers nothing
    assert judge(gate, "products", window, window, 200).outcome == "inconclusive"
    whole = signals(legacy=Side(requests=500, latencies=(0.020,) * 500), extracted=fast)
    verdict = judge(gate, "products", window, whole, 200)
    assert verdict.outcome == "pass"
    assert verdict.threshold == pytest.approx(0.024)


def test_a_slower_extracted_side_fails_the_relative_latency_gate() -> None:
    gate = parse_gate("p99<=1.2x legacy")
    window = signals(
        legacy=Side(requests=300, latencies=(0.020,) * 300),
        extracted=Side(requests=300, latencies=(0.030,) * 300),
    )
    assert judge(gate, "products", window, window, 200).outcome == "fail"


def test_parity_counts_comparisons_and_fails_below_its_threshold() -> None:
    gate = parse_gate("parity>=0.999")
    window = signals(parity=Parity(match=990, mismatch=10))
    verdict = judge(gate, "orders", window, window, 200)
    assert verdict.outcome == "fail"
    assert verdict.value == pytest.approx(0.99)
    assert judge(gate, "orders", signals(parity=Parity(match=150)), EMPTY, 200).outcome == (
        "inconclusive"
    )


def test_one_failed_gate_fails_the_check_even_when_another_is_inconclusive() -> None:
    window = signals(extracted=Side(requests=300, errors=30, latencies=(0.01,) * 300))
    verdicts = [
        judge(parse_gate("errors<=1%"), "products", window, window, 200),
        judge(parse_gate("parity>=0.99"), "products", window, window, 200),
    ]
    assert [v.outcome for v in verdicts] == ["fail", "inconclusive"]
    assert overall(verdicts) == "fail"
    assert overall(verdicts[1:]) == "inconclusive"


def test_a_spec_from_the_api_or_a_file_is_validated_whole() -> None:
    spec = RolloutSpec.from_mapping(
        {"route": "products", "steps": "5,25,50,100", "interval": "30s", "gates": ["errors<=1%"]}
    )
    assert spec.steps == (5, 25, 50, 100) and spec.interval_s == 30
    assert RolloutSpec.from_mapping(spec.to_dict()) == spec
    assert parse_duration("500ms", "x") == pytest.approx(0.5)
    assert parse_duration("2m", "x") == 120


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"steps": [5, 100], "gates": ["errors<=1%"]}, "route"),
        ({"route": "p", "group": "g", "steps": [5], "gates": ["errors<=1%"]}, "exactly one"),
        ({"route": "p", "steps": [50, 25], "gates": ["errors<=1%"]}, "must rise"),
        ({"route": "p", "steps": [5, 101], "gates": ["errors<=1%"]}, "at most 100"),
        ({"route": "p", "steps": [5], "gates": []}, "gates"),
        ({"route": "p", "steps": [5], "gates": ["errors<=1%"], "interval": "0s"}, "interval"),
        ({"route": "p", "steps": [5], "gates": ["errors<=1%"], "shadow": "30s"}, "parity"),
        ({"route": "p", "steps": [5], "gates": ["errors<=1%"], "weight": 5}, "unknown"),
        (
            {
                "route": "p",
                "steps": [5],
                "gates": ["errors<=1%"],
                "checks": ["http://169.254.1.1/"],
            },
            "link-local",
        ),
        (
            {"route": "p", "steps": [5], "gates": ["errors<=1%"], "checks": ["http://[fe80::1]/"]},
            "link-local",
        ),
    ],
)
def test_a_spec_that_cannot_run_is_refused_saying_why(raw: dict[str, object], says: str) -> None:
    with pytest.raises(SpecError, match=says):
        RolloutSpec.from_mapping(raw)


BASE = {"route": "p", "steps": [5], "gates": ["errors<=1%"]}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"steps": [10**400]}, "too large"),
        ({"interval": 10**400}, "too large"),
        ({"shadow": 10**400, "gates": ["parity>=0.99"]}, "too large"),
        ({"steps": "5," * 50}, "up to 20 weights"),
        ({"gates": ["p99<=" + "9" * 400 + "ms"]}, "must look like"),
        ({"gates": ["p99<=31s"]}, "at most 30 s"),
        ({"checks": ["http://[::1/"]}, "not an http"),
        ({"checks": ["http://x.example/" + "a" * 2000]}, "longer than 2000"),
    ],
    ids=[
        "huge-step",
        "huge-interval",
        "huge-shadow",
        "long-steps-text",
        "infinite-latency",
        "latency-past-the-figures",
        "half-an-ipv6-host",
        "long-check-url",
    ],
)
def test_numbers_and_texts_past_what_can_mean_anything_are_refused(
    changes: dict[str, object], says: str
) -> None:
    with pytest.raises(SpecError, match=says) as refused:
        RolloutSpec.from_mapping({**BASE, **changes})
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    "host",
    [
        "2852039166",
        "0xa9fea9fe",
        "169.254.43518",
        "0251.0376.0251.0376",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "0",
    ],
)
def test_a_check_at_the_metadata_address_in_any_spelling_is_refused(host: str) -> None:
    with pytest.raises(SpecError, match="link-local, multicast or unspecified"):
        RolloutSpec.from_mapping({**BASE, "checks": [f"http://{host}/latest/meta-data/"]})


def test_a_local_check_by_name_or_loopback_is_kept() -> None:
    checks = ["http://127.0.0.1:9000/ready", "http://localhost/ready", "https://ci.example/ok"]
    assert [c.url for c in RolloutSpec.from_mapping({**BASE, "checks": checks}).checks] == checks


@pytest.mark.parametrize("padded", ["interval", "gate"])
def test_a_setting_padded_with_spaces_is_refused_without_reading_it_all(padded: str) -> None:
    text = "1" + " " * 200_000 + "x"
    raw = {**BASE, "interval": text} if padded == "interval" else {**BASE, "gates": [text]}
    started = time.perf_counter()
    with pytest.raises(SpecError):
        RolloutSpec.from_mapping(raw)
    assert time.perf_counter() - started < 0.5  # quadratic: about 2 minutes before
