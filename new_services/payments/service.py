"""The payments use cases: charge an order once, refund it, read payments back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import anyio.to_thread

from new_services.payments.errors import (
    CardDeclined,
    ChargeNotAdoptable,
    KeyUsedForOtherPayment,
    OrderAlreadyPaid,
    OrderBeingPaid,
    PaymentNotFound,
    PaymentPending,
    RefundTooLarge,
)
from new_services.payments.model import (
    AdoptCharge,
    ChargeOrder,
    Payment,
    PaymentStatus,
    Refund,
    RefundPayment,
    RefundStatus,
    refund_id_for,
)
from new_services.payments.provider import Provider
from new_services.payments.repository import (
    OrderHasPayment,
    Overrefund,
    PaymentRepository,
    Position,
    Unsettled,
)
from new_services.platform.problems import InvalidRequest

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
        """Charge the card once for the order.

        The payment is written `pending` before the provider is called, and the provider
        call is keyed by the payment. So a second request for the order, whatever its
        key, gets 409 even while the first is still out; and a retry of the same payment
        (same client key, so same id) after a timeout or a crash resumes it, and the
        provider, seeing the same key, charges once."""
        now = self._clock()
        payment = Payment(
            id=payment_id,
            order_ref=command.order_ref,
            amount_cents=command.amount_cents,
            currency=command.currency,
            status=PaymentStatus.PENDING,
            provider_charge_id=None,
            refunded_cents=0,
            created_at=now,
            updated_at=now,
            request_hash=command.fingerprint(),
        )
        if dry_run:  # checks what the real one would, then stops: no row, no charge
            existing = await self._db(self._repository.for_order, command.order_ref)
            if existing is not None and existing.id != payment_id:
                raise self._paid(command.order_ref, existing)
            return existing or payment
        try:
            await self._db(self._repository.reserve, payment)
        except OrderHasPayment as taken:
            if taken.existing.id != payment_id:
                raise self._paid(command.order_ref, taken.existing) from None
            if taken.existing.request_hash != payment.request_hash:
                # The key's first attempt failed without an answer worth keeping, and the
                # client now sends something else under it: that is another payment.
                raise KeyUsedForOtherPayment(
                    "this Idempotency-Key belongs to a payment with other details "
                    f"(payment {payment_id}); use a new key for a new payment"
                ) from None
            payment = taken.existing  # our own earlier attempt: resume it
            if payment.status is not PaymentStatus.PENDING:
                return payment
        try:
            charge = await self._provider.charge(
                command.amount_cents,
                command.currency,
                command.card_token,
                description=command.description or f"order {command.order_ref}",
                key=f"payment-{payment_id}",
            )
        except (CardDeclined, InvalidRequest):
            # Definitely not charged: free the order for another card.
            await self._db(self._repository.forget, payment_id)
            raise
        # Any other failure (a timeout, a 5xx) leaves the payment pending: the provider may
        # have charged, and only a retry with the same key can find out safely.
        return await self._db(self._repository.capture, payment_id, charge.id, self._clock())

    @staticmethod
    def _paid(order_ref: str, existing: Payment) -> OrderAlreadyPaid | OrderBeingPaid:
        if existing.status is PaymentStatus.PENDING:  # may still fail: not a final answer
            return OrderBeingPaid(
                f"order {order_ref} is being paid by payment {existing.id}; retry later",
                payment_id=str(existing.id),
                payment_status=existing.status.value,
            )
        return OrderAlreadyPaid(
            f"order {order_ref} is already paid by payment {existing.id}",
            payment_id=str(existing.id),
            payment_status=existing.status.value,
        )

    async def adopt(self, command: AdoptCharge, dry_run: bool = False) -> Payment:
        """Take over a charge the provider captured for another system (the legacy shop),
        as a payment of `order_ref`, so it can be refunded here like any other. Amounts come
        from the provider's record. Adopting the same charge for the same order again
        answers the same payment."""
        charge = await self._provider.lookup(command.charge_id)
        if charge is None or not charge.captured:
            why = "has no charge" if charge is None else "declined the charge"
            raise ChargeNotAdoptable(f"the provider {why} {command.charge_id}; nothing to refund")
        now = self._clock()
        payment = Payment(
            id=command.payment_id,
            order_ref=command.order_ref,
            amount_cents=charge.amount_cents,
            currency=charge.currency,
            status=PaymentStatus.CAPTURED,
            provider_charge_id=charge.id,
            refunded_cents=0,
            created_at=now,
            updated_at=now,
            request_hash=command.fingerprint(),
        )
        if charge.refunded_cents:
            payment = payment.refunded(charge.refunded_cents, now)
        if dry_run:
            existing = await self._db(self._repository.get, payment.id)
            return existing or payment
        try:
            return await self._db(self._repository.adopt, payment)
        except OrderHasPayment as taken:
            raise ChargeNotAdoptable(
                f"order {command.order_ref} or charge {command.charge_id} already belongs to "
                f"payment {taken.existing.id}",
                payment_id=str(taken.existing.id),
            ) from None

    async def refund(
        self, command: RefundPayment, key: str, dry_run: bool = False
    ) -> tuple[Refund, Payment]:
        """Reserve the amount on the payment first (so two refunds can never take back
        more than was paid), then ask the provider, keyed by the refund. A retry with the
        same key resumes the same refund, whatever is left to refund by then."""
        payment = await self.get(command.payment_id)
        refund_id = refund_id_for(payment.id, key)
        refund = await self._db(self._repository.get_refund, refund_id)
        if refund is not None:
            if command.amount_cents not in (None, refund.amount_cents):
                raise KeyUsedForOtherPayment(
                    f"this Idempotency-Key refunded {refund.amount_cents} cents, not "
                    f"{command.amount_cents}; use a new key for a new refund"
                )
        else:
            refund = await self._new_refund(payment, refund_id, command, dry_run)
            if dry_run:
                return refund, payment
        if refund.status is RefundStatus.PENDING:
            assert payment.provider_charge_id is not None  # only captured payments refund
            try:
                made = await self._provider.refund(
                    payment.provider_charge_id, refund.amount_cents, key=f"refund-{refund.id}"
                )
            except InvalidRequest:
                await self._db(self._repository.revert_refund, refund.id)
                raise
            refund = await self._db(self._repository.confirm_refund, refund.id, made.id)
        return refund, await self.get(payment.id)

    async def _new_refund(
        self, payment: Payment, refund_id: uuid.UUID, command: RefundPayment, dry_run: bool
    ) -> Refund:
        if payment.status is PaymentStatus.PENDING:
            raise PaymentPending("the payment is not settled yet; retry later")
        amount = payment.refundable_cents if command.amount_cents is None else command.amount_cents
        if amount <= 0 or amount > payment.refundable_cents:  # 0: nothing is left
            raise RefundTooLarge(
                f"{amount} cents asked, {payment.refundable_cents} left to refund",
                refundable_cents=payment.refundable_cents,
            )
        refund = Refund(refund_id, payment.id, amount, RefundStatus.PENDING, None, self._clock())
        if dry_run:
            return refund
        try:
            return await self._db(self._repository.reserve_refund, refund)
        except Overrefund:
            left = (await self.get(payment.id)).refundable_cents
            raise RefundTooLarge(
                f"{amount} cents asked, {left} left to refund", refundable_cents=left
            ) from None

    async def get(self, payment_id: uuid.UUID) -> Payment:
        payment = await self._db(self._repository.get, payment_id)
        if payment is None:
            raise PaymentNotFound(f"no payment {payment_id}")
        return payment

    async def page(self, after: Position | None, limit: int) -> list[Payment]:
        return await self._db(self._repository.newest_first, after, limit)

    async def unsettled(self, older_than: timedelta) -> dict[str, Unsettled]:
        """Payments and refunds pending for longer than `older_than`: the provider may have
        moved money that nothing here records as done (a client that never retried after
        a timeout). Each needs a retry with its key, or an operator."""
        return await self._db(self._repository.unsettled, self._clock() - older_than)
