"""The payments service's own metrics: what is still pending, and for how long.

A payment stays `pending` when the provider did not answer and the client never retried
with its key; a refund likewise. The provider may have moved the money all the same, so
each one is either a retry that never came or a case for an operator. `app.py` refreshes
these every `PAYMENTS_CHECK_UNSETTLED_EVERY_S` and logs a warning while there are any.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge

from new_services.payments.repository import Unsettled


class UnsettledMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.count = Gauge(
            "payments_unsettled",
            "Payments and refunds pending for longer than PAYMENTS_UNSETTLED_AFTER_S.",
            ["kind"],
            registry=registry,
        )
        self.oldest = Gauge(
            "payments_unsettled_oldest_seconds",
            "Age of the oldest of them (0: none).",
            ["kind"],
            registry=registry,
        )

    def show(self, found: dict[str, Unsettled], now: datetime) -> None:
        for kind, unsettled in found.items():
            self.count.labels(kind).set(unsettled.count)
            age = (now - unsettled.oldest).total_seconds() if unsettled.oldest else 0.0
            self.oldest.labels(kind).set(age)
