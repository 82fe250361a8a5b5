"""What checkout shows in the orders service's /metrics: how long each step takes, and how
each checkout ended (placed, a dry run, or the problem that stopped it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

# A step is a few milliseconds (a query, a call to a neighbour) up to the provider's timeout.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CheckoutMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()  # a private one: counted, never served
        self._steps = Histogram(
            "orders_checkout_step_seconds",
            "Time each checkout step took (draft, hold, charge, place)",
            ["step"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._outcomes = Counter(
            "orders_checkouts",
            "Checkouts by how they ended: placed, dry_run, or the problem that stopped them",
            ["outcome"],
            registry=registry,
        )
        self._given_back = Counter(
            "orders_orphan_payments_given_back",
            "Payments captured for an order that was never placed (the checkout died after "
            "the charge), voided and refunded by the settler (orphans.py)",
            registry=registry,
        )

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step `name`, whether it succeeds or raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._steps.labels(name).observe(time.perf_counter() - started)

    def ended(self, outcome: str) -> None:
        self._outcomes.labels(outcome).inc()

    def given_back(self) -> None:
        self._given_back.inc()
