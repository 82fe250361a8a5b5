"""Prometheus metrics for one gateway instance, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gateway_requests",
            "Requests answered, by route, target and status.",
            ["route", "target", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "gateway_request_seconds",
            "Time to the upstream's response headers.",
            ["route", "target"],
            buckets=BUCKETS,
            registry=r,
        )
        self.shadow = Counter(
            "gateway_shadow", "Shadow mirrors by outcome.", ["route", "outcome"], registry=r
        )
        self.fallbacks = Counter(
            "gateway_fallbacks",
            "Requests retried on legacy after the extracted side failed.",
            ["route", "reason"],
            registry=r,
        )
        self.faults = Counter(
            "gateway_faults_injected",
            "Faults injected into extracted requests, by route and kind (delay, abort).",
            ["route", "kind"],
            registry=r,
        )
        self.breaker = Gauge(
            "gateway_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["route", "upstream"],
            registry=r,
        )
        self.table_version = Gauge(
            "gateway_table_version", "Version of the route table being served.", registry=r
        )
        self.store_up = Gauge(
            "gateway_route_store_up", "1 while the shared route store answers.", registry=r
        )
        self.loop_lag = Gauge(
            "gateway_event_loop_lag_seconds",
            "How late the event loop runs a timer: about one loop turn, which every request waits.",
            registry=r,
        )
        self.loop_busy = Gauge(
            "gateway_event_loop_busy_ratio",
            "Share of the time the event loop ran or waited for a CPU (mirrors give way above "
            "GATEWAY_SHADOW_MAX_BUSY).",
            registry=r,
        )
        self.signals_dropped = Counter(
            "gateway_signals_dropped",
            "Requests whose signals (gateway/signals.py) were lost: the signal store failed.",
            registry=r,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, target: str, status: int, seconds: float) -> None:
        """One answered request (label children cached: this is on the hot path)."""
        key = (route, target, status)
        child = self._children.get(key)
        if child is None:
            child = (
                self.requests.labels(route, target, str(status)),
                self.latency.labels(route, target),
            )
            self._children[key] = child
        child[0].inc()
        child[1].observe(seconds)
