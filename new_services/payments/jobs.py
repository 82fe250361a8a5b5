"""RQ jobs: the payments side of legacy's order events, on the `{namespace}-payments` queue.

In canary, carts-and-checkout is sticky by user and orders by order id, so legacy may
cancel an order the services charged: it refunds at the provider by itself and deletes the
order. Its captured `legacy.order.cancelled` event (migrations 0005f) names the provider's
charge, and this job records every refund the provider made of it that the ledger does not
know, as made (nothing is refunded again). Recording twice changes nothing (one refund per
provider refund), so a retry or a second delivery is safe. While the payment has a refund
of its own pending, the job raises and is retried with backoff (platform/outbox.py RETRY),
then parked in RQ's failed registry (`strangler jobs failed`, `strangler jobs requeue`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from sqlalchemy import Engine

from new_services.payments.provider import HttpProvider
from new_services.payments.repository import Overrefund, RefundUnderWay, SqlPaymentRepository
from new_services.payments.service import PaymentService
from new_services.payments.settings import PaymentsSettings
from new_services.platform.clients import service_client
from new_services.platform.tracing import traced_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wiring:
    """What the worker's composition root (worker.py) builds once for its jobs."""

    settings: PaymentsSettings
    engine: Engine
    provider: httpx.AsyncBaseTransport | None = None  # tests: instead of the network


_wired: list[Wiring] = []  # RQ names jobs by import path: this is how they reach the wiring


def wire(wiring: Wiring) -> None:
    """Hand the process's wiring to the jobs (once, before working the queue)."""
    _wired[:] = [wiring]


@traced_job("payments: order cancelled by legacy")
def on_legacy_order_cancelled(message: Mapping[str, Any]) -> str:
    """Legacy refunded the order's charge at the provider: the ledger records it."""
    payload = message["payload"]
    charge_id = payload.get("charge_id")
    if not charge_id:  # captured before cancels carried the charge, or never charged
        return "no charge"
    if not _wired:
        raise RuntimeError("payments jobs run in `python -m new_services.payments.worker`")
    try:
        recorded = anyio.run(_record, _wired[0], str(charge_id))
    except RefundUnderWay:
        log.info("order %s: a refund of its own is pending; asked again", payload["order_id"])
        raise
    except Overrefund:
        log.error(
            "order %s: the provider gave back more of charge %s than its payment can count; "
            "left for a person",
            payload["order_id"],
            charge_id,
        )
        return "more refunded than paid"
    log.info("order %s cancelled by legacy: %d refund(s) recorded", payload["order_id"], recorded)
    return f"{recorded} recorded"


async def _record(wiring: Wiring, charge_id: str) -> int:
    # The client belongs to this job's event loop (aiohttp's pool cannot outlive it).
    timeout = httpx.Timeout(wiring.settings.provider_timeout_s, connect=2.0)
    async with service_client(wiring.settings.provider_url, timeout, wiring.provider) as client:
        service = PaymentService(SqlPaymentRepository(wiring.engine), HttpProvider(client))
        return await service.record_refunds_made_elsewhere(charge_id)
