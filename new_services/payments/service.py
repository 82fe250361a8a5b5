"""The payments use cases: charge an order once, refund it, read payments back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import anyio.to_thread

from new_services.payments.errors import OrderAlreadyPaid, PaymentNotFound, RefundTooLarge
from new_services.payments.model import (
    ChargeOrder,
    Payment,
    PaymentStatus,
    Refund,
    RefundPayment,
    refund_id_for,
)
from new_services.payments.provider import Provider
from new_services.payments.repository import (
    DuplicateOrder,
    Overrefund,
    PaymentRepository,
    Position,
)

P = ParamSpec("P")
T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PaymentService:
    def __init__(
        self,
        repository: PaymentRepository,
        provider: Provider,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._provider = provider
        self._clock = clock

    async def _db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Repositories block; run them on a worker thread, off the event loop."""
        return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))

    async def charge(
        self, command: ChargeOrder, payment_id: uuid.UUID, dry_run: bool = False
    ) -> Payment:
        """Charge the card once for the order. `payment_id` comes from the client's key, so
        a retry names the same payment and the provider, keyed by it, charges once."""
        existing = await self._db(self._repository.for_order, command.order_ref)
        if existing is not None:
            if existing.id == payment_id:  # our own earlier attempt got this far: same answer
                return existing
            raise OrderAlreadyPaid(
                f"order {command.order_ref} is already paid", payment_id=str(existing.id)
            )
        now = self._clock()
        payment = Payment(
            id=payment_id,
            order_ref=command.order_ref,
            amount_cents=command.amount_cents,
            currency=command.currency,
            status=PaymentStatus.CAPTURED,
            provider_charge_id=None,
            refunded_cents=0,
            created_at=now,
            updated_at=now,
        )
        if dry_run:  # validated and checked; no charge, no row
            return payment
        charge = await self._provider.charge(
            command.amount_cents,
            command.currency,
            command.card_token,
            description=f"order {command.order_ref}",
            key=f"payment-{payment_id}",
        )
        payment = replace(payment, provider_charge_id=charge.id)
        try:
            await self._db(self._repository.add, payment)
        except DuplicateOrder:
            # Another payment for this order committed while we were charging: the money
            # we just took has no order to belong to, so it goes straight back.
            await self._provider.refund(
                charge.id, command.amount_cents, key=f"compensate-{payment_id}"
            )
            raise OrderAlreadyPaid(
                f"order {command.order_ref} was paid by another request meanwhile; "
                "this charge was refunded"
            ) from None
        return payment

    async def refund(self, command: RefundPayment, key: str) -> tuple[Refund, Payment]:
        payment = await self.get(command.payment_id)
        amount = payment.refundable_cents if command.amount_cents is None else command.amount_cents
        if amount <= 0 or amount > payment.refundable_cents:
            raise RefundTooLarge(
                f"{amount} cents asked, {payment.refundable_cents} left to refund",
                refundable_cents=payment.refundable_cents,
            )
        assert payment.provider_charge_id is not None  # stored payments were charged
        refund_id = refund_id_for(payment.id, key)
        made = await self._provider.refund(
            payment.provider_charge_id, amount, key=f"refund-{refund_id}"
        )
        now = self._clock()
        refund = Refund(refund_id, payment.id, made.amount_cents, made.id, now)
        try:
            updated = await self._db(self._repository.add_refund, refund, now)
        except Overrefund:
            raise RefundTooLarge("another refund took the rest of this payment meanwhile") from None
        return refund, updated

    async def get(self, payment_id: uuid.UUID) -> Payment:
        payment = await self._db(self._repository.get, payment_id)
        if payment is None:
            raise PaymentNotFound(f"no payment {payment_id}")
        return payment

    async def page(self, after: Position | None, limit: int) -> list[Payment]:
        return await self._db(self._repository.newest_first, after, limit)
