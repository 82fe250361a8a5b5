"""The payments use cases: charge an order once, refund it, read payments back, and settle
what stayed pending."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
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
    PaymentVoided,
    ProviderBusy,
    ProviderRefused,
    ProviderUnavailable,
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
    provider_refund_id_for,
    refund_id_for,
    settler_refund_id,
)
from new_services.payments.provider import ChargeOnRecord, Provider
from new_services.payments.repository import (
    OrderHasPayment,
    Overrefund,
    PaymentRepository,
    Position,
    Unsettled,
)
from new_services.platform.problems import InvalidRequest

log = logging.getLogger(__name__)


class _CannotTell(Exception):
    """What the provider says of a payment cannot settle it: no answer, or two charges."""


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
            provider_reference=str(payment_id),
        )
        if dry_run:  # checks what the real one would, then stops: no row, no charge
            existing = await self._db(self._repository.for_order, command.order_ref)
            if existing is not None and (
                existing.id != payment_id or existing.status is PaymentStatus.VOIDED
            ):
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
            if payment.status is PaymentStatus.PENDING:  # the settler must now keep off it
                payment = await self._db(self._repository.resume, payment_id, self._clock())
            if payment.status is PaymentStatus.VOIDED:
                raise self._voided(payment) from None
            if payment.status is not PaymentStatus.PENDING:
                return payment
        try:
            charge = await self._provider.charge(
                command.amount_cents,
                command.currency,
                command.card_token,
                description=command.description or f"order {command.order_ref}",
                key=f"payment-{payment_id}",
                reference=payment.provider_reference,  # a resumed one's own, maybe None
            )
        except (CardDeclined, InvalidRequest):
            # Definitely not charged: free the order for another card.
            await self._db(self._repository.forget, payment_id)
            raise
        except ProviderRefused as exc:
            # left pending like any failure (the settler closes it), answered as before
            raise ProviderUnavailable(str(exc)) from exc
        # Any other failure (a timeout, a 5xx) leaves the payment pending: the provider may
        # have charged, and a retry with the same key finds out safely; without one, the
        # settler does (`settle`).
        captured = await self._db(self._repository.capture, payment_id, charge.id, self._clock())
        if captured.status is PaymentStatus.VOIDED:  # only past `resume`'s guard (see settle)
            captured = await self._give_back_late(captured, charge.id)
            raise self._voided(captured)
        return captured

    async def _give_back_late(self, payment: Payment, charge_id: str) -> Payment:
        """A charge that landed after the settler voided its payment: recorded on it with
        a refund of all of it, then refunded (or left pending for the settler's next
        round)."""
        log.error("charge %s landed on voided payment %s; giving it back", charge_id, payment.id)
        refund = Refund(
            settler_refund_id(payment.id),
            payment.id,
            payment.amount_cents,
            RefundStatus.PENDING,
            None,
            self._clock(),
        )
        if await self._db(self._repository.attach_late_charge, payment.id, charge_id, refund):
            await self._finish_refund(refund, charge_id)
        return await self.get(payment.id)

    @staticmethod
    def _voided(payment: Payment) -> PaymentVoided:
        given_back = " and its charge given back" if payment.provider_charge_id else ""
        return PaymentVoided(
            f"payment {payment.id} of order {payment.order_ref} was given up on{given_back}, "
            "after no answer came back for it in time; pay again under a new order_ref "
            "and a new Idempotency-Key",
            payment_id=str(payment.id),
            payment_status=payment.status.value,
        )

    @classmethod
    def _paid(
        cls, order_ref: str, existing: Payment
    ) -> OrderAlreadyPaid | OrderBeingPaid | PaymentVoided:
        if existing.status is PaymentStatus.VOIDED:
            return cls._voided(existing)
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
        same key resumes the same refund, whatever is left to refund by then. When the
        provider's answer is lost, the refund comes back still pending (the API answers
        202): a retry with the key or the settler finishes it. When the provider says it
        did nothing (ProviderRefused) to the first request for a refund, the refund is
        dropped; to a later one, it stays pending (the first one's fate is unknown)."""
        payment = await self.get(command.payment_id)
        refund_id = refund_id_for(payment.id, key)
        refund = await self._db(self._repository.get_refund, refund_id)
        reserved_now = refund is None
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
            except ProviderRefused:
                if not reserved_now:  # an earlier attempt's fate is unknown: still pending
                    log.warning("refund %s: the provider refused a retry; pending", refund.id)
                    return refund, await self.get(payment.id)
                # the provider did nothing with the only request made for this refund: it is
                # not kept, so "nothing changed" is the truth
                await self._db(self._repository.revert_refund, refund.id)
                raise
            except (ProviderUnavailable, ProviderBusy):
                # its answer was lost: the refund stays pending, to be finished by a retry
                # with the key or by the settler; the caller is told it is under way
                log.warning("refund %s: the provider's answer was lost; pending", refund.id)
                return refund, await self.get(payment.id)
            refund = await self._db(self._repository.confirm_refund, refund.id, made.id)
        return refund, await self.get(payment.id)

    async def _new_refund(
        self, payment: Payment, refund_id: uuid.UUID, command: RefundPayment, dry_run: bool
    ) -> Refund:
        if payment.status is PaymentStatus.PENDING:
            raise PaymentPending("the payment is not settled yet; retry later")
        if payment.status is PaymentStatus.VOIDED:
            raise self._voided(payment)
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

    async def page(
        self,
        after: Position | None,
        limit: int,
        oldest_first: bool = False,
        status: PaymentStatus | None = None,
    ) -> list[Payment]:
        return await self._db(self._repository.in_time_order, after, limit, oldest_first, status)

    async def abandon(self, payment_id: uuid.UUID) -> Payment:
        """Give up a captured payment whose order was never placed (the orders service died
        between the charge and the order, and has since decided the order abandoned): it
        becomes `voided`, and what is left of it is refunded, with the settler's one refund
        id (so once). A retry of its checkout then hears it was given up. Again: the same."""
        for _ in range(3):  # a refund that lands meanwhile changes what is left: look again
            payment = await self.get(payment_id)
            if payment.status is PaymentStatus.VOIDED:
                return await self._finish_settler_refund(payment)
            if payment.status is PaymentStatus.PENDING:
                raise PaymentPending("the payment is not settled yet; retry later")
            left = payment.amount_cents - payment.refunded_cents
            refund = None
            if left > 0:
                refund = Refund(
                    settler_refund_id(payment.id),
                    payment.id,
                    left,
                    RefundStatus.PENDING,
                    None,
                    self._clock(),
                )
            done = await self._db(
                self._repository.abandon, payment.id, payment.refunded_cents, self._clock(), refund
            )
            if done:
                log.warning(
                    "payment %s voided: its order %s was never placed",
                    payment.id,
                    payment.order_ref,
                )
                return await self._finish_settler_refund(await self.get(payment.id))
        raise PaymentPending("the payment keeps changing; retry later")

    async def _finish_settler_refund(self, payment: Payment) -> Payment:
        refund = await self._db(self._repository.get_refund, settler_refund_id(payment.id))
        if (
            refund is not None
            and refund.status is RefundStatus.PENDING
            and payment.provider_charge_id
        ):
            await self._finish_refund(refund, payment.provider_charge_id)
        return await self.get(payment.id)

    async def record_refunds_made_elsewhere(self, charge_id: str) -> int:
        """Record each refund the provider made of `charge_id` that this ledger does not
        know, as made (the provider is not asked again): legacy cancels an order the
        services charged by refunding at the provider itself. How many were new; 0 also for
        a charge no payment here holds (legacy's own). Raises RefundUnderWay while the
        payment has a refund of its own pending (the unknown one may be it: ask later),
        Overrefund when the provider gave back more than the ledger can count."""
        payment = await self._db(self._repository.for_charge, charge_id)
        if payment is None:
            return 0
        recorded = 0
        for made in await self._provider.refunds_of(charge_id):
            refund = Refund(
                provider_refund_id_for(made.id),
                payment.id,
                made.amount_cents,
                RefundStatus.SUCCEEDED,
                made.id,
                self._clock(),
            )
            if await self._db(self._repository.record_provider_refund, refund):
                recorded += 1
                log.warning(
                    "payment %s: refund %s of %d cents was made at the provider by another "
                    "system (order %s); recorded",
                    payment.id,
                    made.id,
                    made.amount_cents,
                    payment.order_ref,
                )
        return recorded

    async def unsettled(self, older_than: timedelta) -> dict[str, Unsettled]:
        """Payments and refunds pending for longer than `older_than`: the provider may have
        moved money that nothing here records as done (a client that never retried after
        a timeout). Each needs a retry with its key, or an operator."""
        return await self._db(self._repository.unsettled, self._clock() - older_than)

    async def settle(self, older_than: timedelta, limit: int = 50) -> Counter[str]:
        """Close what stayed pending longer than `older_than`, asking the provider what
        became of it: a payment whose client never retried is voided, and its charge, if
        the provider made one, refunded (no order can stand on a payment nobody was told
        was captured); a refund whose answer was lost is finished. Outcomes, counted:
        voided, refunded, refund-finished; resumed (a retry took the payment over
        meanwhile); left (the provider did not answer, or an operator must look).

        A payment left is marked worked on, so it waits `older_than` again instead of
        filling every round's `limit` ahead of newer ones; the unsettled alarm counts from
        when it was made, so it still reports it."""
        before = self._clock() - older_than
        outcomes: Counter[str] = Counter()
        for payment in await self._db(self._repository.stale, before, limit):
            try:
                outcome = await self._settle_payment(payment, before)
            except Exception:  # one payment's surprise must not stop the round
                log.exception("could not settle payment %s", payment.id)
                outcome = "left"
            if outcome == "left":
                await self._db(self._repository.resume, payment.id, self._clock())
            outcomes[outcome] += 1
        for refund, charge_id in await self._db(self._repository.stale_refunds, before, limit):
            try:
                finished = await self._finish_refund(refund, charge_id)
            except Exception:
                log.exception("could not finish refund %s", refund.id)
                finished = False
            outcomes["refund-finished" if finished else "left"] += 1
        return outcomes

    async def recheck_voided(
        self, every: timedelta, for_: timedelta, limit: int = 50
    ) -> Counter[str]:
        """Ask the provider again about each payment voided with no charge, every `every`
        until `for_` after it was made: a charge the provider made later still (its own
        retry after an outage, say) is then recorded and given back, with no client retry
        needed to bring it to light. Outcomes, counted: late-charge (found, recorded, its
        refund started); rechecked (still none); left (the provider did not answer, or
        holds more than one charge for it: asked again next time)."""
        now = self._clock()
        outcomes: Counter[str] = Counter()
        for payment in await self._db(
            self._repository.voided_uncharged, now - every, now - for_, limit
        ):
            try:
                outcome = await self._recheck(payment)
            except Exception:  # one payment's surprise must not stop the round
                log.exception("could not recheck voided payment %s", payment.id)
                outcome = "left"
            if outcome != "late-charge":
                await self._db(self._repository.touch_voided, payment.id, self._clock())
            outcomes[outcome] += 1
        return outcomes

    async def _recheck(self, payment: Payment) -> str:
        try:
            charge = await self._charge_made(payment)
        except _CannotTell:
            return "left"
        if charge is None:
            return "rechecked"
        await self._give_back_late(payment, charge.id)
        return "late-charge"

    async def _charge_made(self, payment: Payment) -> ChargeOnRecord | None:
        """The charge the provider made under the payment's reference, if it made one.
        Raises _CannotTell when it does not answer, or holds more than one (one key, one
        charge: a provider that broke that needs a person)."""
        try:
            made = [c for c in await self._provider.find(str(payment.id)) if c.captured]
        except ProviderUnavailable as exc:
            raise _CannotTell from exc
        if len(made) > 1:
            log.error(
                "payment %s has %d charges at the provider; left as it is", payment.id, len(made)
            )
            raise _CannotTell
        return made[0] if made else None

    async def _settle_payment(self, payment: Payment, before: datetime) -> str:
        try:
            charge = await self._charge_made(payment)
        except _CannotTell:
            return "left"
        now = self._clock()
        refund = None
        if charge is not None and charge.amount_cents > charge.refunded_cents:
            left = charge.amount_cents - charge.refunded_cents
            refund_id = settler_refund_id(payment.id)
            refund = Refund(refund_id, payment.id, left, RefundStatus.PENDING, None, now)
        charge_id = charge.id if charge else None
        if not await self._db(self._repository.void, payment.id, before, now, charge_id, refund):
            return "resumed"
        log.warning("payment %s voided after no answer (charge: %s)", payment.id, charge_id)
        if charge is None or refund is None:
            return "voided"
        return "refunded" if await self._finish_refund(refund, charge.id) else "left"

    async def _finish_refund(self, refund: Refund, charge_id: str) -> bool:
        """Ask the provider again, with the refund's own key: it refunds once."""
        try:
            made = await self._provider.refund(
                charge_id, refund.amount_cents, key=f"refund-{refund.id}"
            )
        except (ProviderUnavailable, ProviderBusy):
            return False
        except InvalidRequest:
            log.error("the provider refuses refund %s of %s; left pending", refund.id, charge_id)
            return False
        await self._db(self._repository.confirm_refund, refund.id, made.id)
        return True
