"""Gates: a rollout step passes only when each gate's value, read from the shared signals over
the step's window, is within its threshold. Too few requests is `inconclusive` (wait), never
a pass.

    parity>=0.999      match / (match + mismatch) of the mirrored comparisons
    errors<=0.5%       5xx share of the extracted side's answers (and of the requests its
                       open circuit breaker sent to legacy instead)
    p99<=1.2x legacy   the extracted side's 99th percentile latency against legacy's
    p95<=250ms         ... or against a fixed bound
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.signals import HIGHEST_S

Outcome = Literal["pass", "fail", "inconclusive"]
MAX_GATE_CHARS = 100
_GATE = re.compile(
    r"^\s*(?P<metric>parity|errors|p(?P<q>\d{1,2}(?:\.\d+)?))\s*(?P<op><=|>=)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>%|ms|s|x\s*legacy)?\s*$"
)


class GateError(ValueError):
    """A gate that cannot be read; the message shows the forms that can."""


class Side(Protocol):
    """One side's figures over a window (gateway/signals.py SideFigures)."""

    @property
    def requests(self) -> int: ...

    @property
    def errors(self) -> int: ...

    @property
    def diverted(self) -> int: ...

    def quantile(self, q: float) -> float | None: ...


class Parity(Protocol):
    @property
    def match(self) -> int: ...

    @property
    def mismatch(self) -> int: ...


class Signals(Protocol):
    """A route's figures over a window (gateway/signals.py RouteSignals)."""

    @property
    def sides(self) -> Mapping[str, Side]: ...

    @property
    def parity(self) -> Parity: ...


@dataclass(frozen=True)
class Gate:
    metric: str  # parity, errors, or pNN
    op: str  # <= or >=
    threshold: float  # a share for parity and errors, seconds or a factor for latency
    relative: bool = False  # latency against legacy's, as a factor
    text: str = ""

    def __str__(self) -> str:
        return self.text

    @property
    def quantile(self) -> float:
        return float(self.metric[1:]) / 100


@dataclass(frozen=True)
class Verdict:
    """One gate on one route at one check: its value against its threshold."""

    gate: str
    route: str
    outcome: Outcome
    value: float | None
    threshold: float | None
    samples: int  # requests (comparisons for parity) the value stands on
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {
            "gate": self.gate,
            "route": self.route,
            "outcome": self.outcome,
            "value": self.value,
            "threshold": self.threshold,
            "samples": self.samples,
            "detail": self.detail,
        }


def parse_gate(text: object) -> Gate:
    # bounded before the pattern, whose runs of spaces cost quadratic time when it fails
    readable = isinstance(text, str) and len(text) <= MAX_GATE_CHARS
    found = _GATE.match(text) if readable and isinstance(text, str) else None
    if found is None or not isinstance(text, str):
        raise GateError(
            f"gate {str(text)[:80]!r} must look like parity>=0.999, errors<=0.5%, "
            "p99<=1.2x legacy or p95<=250ms"
        )
    metric, op, unit = found.group("metric"), found.group("op"), found.group("unit")
    value = float(found.group("value"))
    unit = re.sub(r"\s+", "", unit) if unit else None
    if metric in ("parity", "errors"):
        if unit not in (None, "%"):
            raise GateError(f"gate {text!r}: {metric} is a share (0.995 or 99.5%)")
        share = value / 100 if unit == "%" else value
        if not 0 <= share <= 1:
            raise GateError(f"gate {text!r}: a share is from 0 to 1 (or 0% to 100%)")
        want = ">=" if metric == "parity" else "<="
        if op != want:
            raise GateError(f"gate {text!r}: {metric} is gated with {want}")
        return Gate(metric, op, share, text=text.strip())
    q = float(found.group("q") or 0)
    if not 50 <= q < 100:
        raise GateError(f"gate {text!r}: the percentile is from p50 to p99.9")
    if op != "<=":
        raise GateError(f"gate {text!r}: latency is gated with <=")
    if unit == "xlegacy":
        if not 0.1 <= value <= 100:
            raise GateError(f"gate {text!r}: a factor of legacy's latency is from 0.1 to 100")
        return Gate(metric, op, value, relative=True, text=text.strip())
    if unit not in ("ms", "s"):
        raise GateError(f"gate {text!r}: give the latency in ms or s, or as 1.2x legacy")
    seconds = value / 1000 if unit == "ms" else value
    if not seconds <= HIGHEST_S:  # infinity too: 400 nines read as a float
        raise GateError(
            f"gate {text!r}: a latency bound is at most {HIGHEST_S:g} s, where the latency "
            "figures end (a higher one could never fail)"
        )
    return Gate(metric, op, seconds, text=text.strip())


def judge(gate: Gate, route: str, window: Signals, whole: Signals, min_requests: int) -> Verdict:
    """The gate over `window` (the step's recent interval). Legacy's side of a comparison
    (its latency, parity's comparisons) falls back to `whole` (the rollout so far) when the
    window holds too few: at 100% legacy answers nothing left to compare with."""

    def verdict(
        outcome: Outcome, value: float | None, limit: float | None, n: int, detail: str
    ) -> Verdict:
        return Verdict(str(gate), route, outcome, value, limit, n, detail)

    if gate.metric == "parity":
        match, mismatch = window.parity.match, window.parity.mismatch
        if match + mismatch < min_requests:
            match, mismatch = whole.parity.match, whole.parity.mismatch
        compared = match + mismatch
        if compared < min_requests:
            return verdict(
                "inconclusive",
                None,
                gate.threshold,
                compared,
                f"{compared} comparisons, fewer than {min_requests}",
            )
        value = match / compared
        ok = value >= gate.threshold
        return verdict(
            "pass" if ok else "fail",
            round(value, 5),
            gate.threshold,
            compared,
            f"parity {value:.4f} {'>=' if ok else '<'} {gate.threshold:g} "
            f"({mismatch} of {compared} differ)",
        )
    extracted = window.sides["extracted"]
    if gate.metric == "errors":
        # a request its open breaker kept from the extracted side failed there too: counted,
        # or a breaker that opens would starve the gate into "inconclusive" and hide it
        tried = extracted.requests + extracted.diverted
        if tried < min_requests:
            return verdict(
                "inconclusive",
                None,
                gate.threshold,
                tried,
                f"{tried} requests, fewer than {min_requests}",
            )
        failed = extracted.errors + extracted.diverted
        value = failed / tried
        ok = value <= gate.threshold
        diverted = (
            f", {extracted.diverted} diverted by the open breaker" if extracted.diverted else ""
        )
        return verdict(
            "pass" if ok else "fail",
            round(value, 5),
            gate.threshold,
            tried,
            f"errors {value:.2%} {'<=' if ok else '>'} {gate.threshold:.2%} "
            f"({failed} of {tried}{diverted})",
        )
    if extracted.requests < min_requests:
        return verdict(
            "inconclusive",
            None,
            gate.threshold if not gate.relative else None,
            extracted.requests,
            f"{extracted.requests} requests, fewer than {min_requests}",
        )
    seconds = extracted.quantile(gate.quantile)
    limit = gate.threshold
    against = ""
    if gate.relative:
        legacy = window.sides["legacy"]
        if legacy.requests < min_requests:
            legacy = whole.sides["legacy"]
        base = legacy.quantile(gate.quantile) if legacy.requests >= min_requests else None
        if base is None:
            return verdict(
                "inconclusive",
                seconds,
                None,
                extracted.requests,
                f"legacy answered {legacy.requests} requests, fewer than {min_requests}",
            )
        limit = base * gate.threshold
        against = f" = {gate.threshold:g}x legacy's {base * 1000:.1f} ms"
    if seconds is None:
        return verdict("inconclusive", None, limit, extracted.requests, "no latency figures")
    ok = seconds <= limit
    return verdict(
        "pass" if ok else "fail",
        round(seconds, 6),
        round(limit, 6),
        extracted.requests,
        f"{gate.metric} {seconds * 1000:.1f} ms {'<=' if ok else '>'} {limit * 1000:.1f} ms"
        f"{against}",
    )


def overall(verdicts: list[Verdict]) -> Outcome:
    """A check fails when any gate fails (with enough samples), passes when all pass, and is
    inconclusive otherwise."""
    if any(v.outcome == "fail" for v in verdicts):
        return "fail"
    if verdicts and all(v.outcome == "pass" for v in verdicts):
        return "pass"
    return "inconclusive"
