"""The controller's Prometheus metrics: each rollout's weight and state, and each gate's last
value against its threshold (the gateways export the per-request figures themselves)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.rollouts.state import Rollout

STATES = ("running", "paused", "succeeded", "aborted", "promoted")


class RolloutMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.acting = Gauge(
            "strangler_rollout_controller_acting",
            "1 while this controller holds the lease.",
            registry=r,
        )
        self.weight = Gauge(
            "strangler_rollout_weight",
            "The weight of the rollout's current step.",
            ["rollout"],
            registry=r,
        )
        self.state = Gauge(
            "strangler_rollout_state",
            "1 for the rollout's state.",
            ["rollout", "state"],
            registry=r,
        )
        self.gate = Gauge(
            "strangler_rollout_gate_value",
            "A gate's value at the last check (shares, or seconds for latency).",
            ["rollout", "route", "gate"],
            registry=r,
        )
        self.threshold = Gauge(
            "strangler_rollout_gate_threshold",
            "A gate's threshold at the last check (for a relative gate, legacy's figure times "
            "the factor).",
            ["rollout", "route", "gate"],
            registry=r,
        )
        self.tick_errors = Counter(
            "strangler_rollout_tick_errors", "Ticks that failed (Redis, the table).", registry=r
        )

    def export(self, rollouts: Iterable[Rollout], acting: bool) -> None:
        self.acting.set(1 if acting else 0)
        for rollout in rollouts:
            self.weight.labels(rollout.name).set(rollout.weight)
            for state in STATES:
                self.state.labels(rollout.name, state).set(1 if rollout.status == state else 0)
            for verdict in (rollout.last_check or {}).get("verdicts", []):
                labels = (rollout.name, verdict["route"], verdict["gate"])
                if verdict["value"] is not None:
                    self.gate.labels(*labels).set(verdict["value"])
                if verdict["threshold"] is not None:
                    self.threshold.labels(*labels).set(verdict["threshold"])
