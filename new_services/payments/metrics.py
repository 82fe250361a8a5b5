"""The payments service's own metrics: what the settler closed, what is still pending,
and for how long.

A payment stays `pending` when the provider did not answer and the client never retried
with its key; a refund likewise. The provider may have moved the money all the same. The
settler (`PaymentService.settle`) closes them after `PAYMENTS_SETTLE_AFTER_S`; one still
pending after `PAYMENTS_UNSETTLED_AFTER_S` is a case for an operator (the provider keeps
not answering, or has two charges for one payment). `app.py` refreshes these every
`PAYMENTS_CHECK_UNSETTLED_EVERY_S` and logs a warning while there are any.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

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
        self.settled = Counter(
            "payments_settled",
            "What the settler did with a payment or refund left pending: voided, refunded, "
            "refund-finished, resumed (a retry came first) or left (to try again); and with "
            "a voided payment it asked about again: rechecked (still no charge) or "
            "late-charge (one found, given back).",
            ["outcome"],
            registry=registry,
        )

    def count_settled(self, outcomes: dict[str, int]) -> None:
        for outcome, n in outcomes.items():
            self.settled.labels(outcome).inc(n)

    def show(self, found: dict[str, Unsettled], now: datetime) -> None:
        for kind, unsettled in found.items():
            self.count.labels(kind).set(unsettled.count)
            age = (now - unsettled.oldest).total_seconds() if unsettled.oldest else 0.0
            self.oldest.labels(kind).set(age)
