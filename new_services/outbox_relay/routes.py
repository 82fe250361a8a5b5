"""Which queues hear which event: the one place that knows producers and consumers.

Handlers are named by import path, so the relay imports no domain's code; each queue is
worked by its domain's own worker process.
"""

from __future__ import annotations

from new_services.platform.outbox import Destination

ROUTES: dict[str, list[Destination]] = {
    "order.placed": [
        Destination("catalog", "new_services.catalog.jobs.on_order_placed"),  # the hold is final
        Destination("notifications", "new_services.notifications.jobs.on_order_placed"),
        Destination("analytics", "new_services.analytics.jobs.on_order_placed"),
    ],
    "order.cancelled": [
        Destination("analytics", "new_services.analytics.jobs.on_order_cancelled"),
    ],
    # legacy's own writes, captured by triggers (migrations 0005f_capture_legacy_orders):
    # legacy held no stock through the catalog and sends its own e-mail, so only the read
    # models hear of them, and payments of a cancel (legacy refunded at the provider an
    # order the services may have charged: the ledger records that refund)
    "legacy.order.placed": [
        Destination("analytics", "new_services.analytics.jobs.on_order_placed"),
    ],
    "legacy.order.cancelled": [
        Destination("analytics", "new_services.analytics.jobs.on_order_cancelled"),
        Destination("payments", "new_services.payments.jobs.on_legacy_order_cancelled"),
    ],
}

QUEUES = frozenset(d.queue for destinations in ROUTES.values() for d in destinations)
