"""Use cases of the provider: charge, refund, look up, and the idempotency-key life cycle."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from stand_ins.payments.errors import (
    CardDeclined,
    InvalidCardToken,
    NotFound,
    PaymentsError,
    ProcessingError,
)
from stand_ins.payments.idempotency import IdempotencyKey, Reply, stored_reply
from stand_ins.payments.model import (
    CardOutcome,
    Charge,
    ChargeStatus,
    Refund,
    card_outcome,
    new_id,
    parse_charge_request,
    parse_refund_request,
    timestamp,
)
from stand_ins.payments.store import Store, Transaction

CREATED = 201


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PaymentService:
    """Blocking methods, each one SQLite transaction; the HTTP edge runs them in a thread."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    def claim(self, key: IdempotencyKey, fingerprint: str, lease_seconds: float) -> Reply | None:
        """Lock the key for this request, or return the reply to replay instead."""
        now = time.time()
        with self._store.transaction() as tx:
            reply = stored_reply(tx.key(key), fingerprint, now)
            if reply is None:
                tx.lock_key(key, fingerprint, now + lease_seconds)
            return reply

    def settle(self, key: IdempotencyKey, *, kept: bool) -> None:
        """Unlock a claimed key; one whose reply was not kept is forgotten so a retry runs anew."""
        with self._store.transaction() as tx:
            if kept:
                tx.unlock_key(key)
            else:
                tx.forget_key(key)

    def create_charge(self, raw_body: bytes, key: IdempotencyKey | None) -> Reply:
        return self._answer(self._charge, raw_body, key)

    def create_refund(self, raw_body: bytes, key: IdempotencyKey | None) -> Reply:
        return self._answer(self._refund, raw_body, key)

    def charge(self, charge_id: str) -> Charge:
        with self._store.reading() as tx:
            charge = tx.charge(charge_id)
        if charge is None:
            raise NotFound(f"no charge with id {charge_id}")
        return charge

    def charges(
        self, card_token: str | None, status: ChargeStatus | None, reference: str | None = None
    ) -> list[Charge]:
        with self._store.reading() as tx:
            return tx.charges(card_token, status, reference)

    def refunds(self, charge_id: str | None) -> list[Refund]:
        with self._store.reading() as tx:
            return tx.refunds(charge_id)

    def _answer(
        self,
        operation: Callable[[Transaction, bytes], Reply],
        raw_body: bytes,
        key: IdempotencyKey | None,
    ) -> Reply:
        # The reply is kept in the same transaction as the charge it describes: a crash
        # can never leave a charge whose key would let a retry charge again.
        with self._store.transaction() as tx:
            try:
                reply = operation(tx, raw_body)
            except PaymentsError as error:
                reply = Reply.of_error(error)
            if key is not None and reply.replayable:
                tx.keep_reply(key, reply)
        return reply

    def _charge(self, tx: Transaction, raw_body: bytes) -> Reply:
        request = parse_charge_request(raw_body)
        outcome = card_outcome(request.card_token)
        if outcome is CardOutcome.UNKNOWN:
            raise InvalidCardToken(f"unknown card token {request.card_token!r}")
        if outcome is CardOutcome.FAIL:
            raise ProcessingError("the card network failed; nothing was charged, retry later")
        charge = Charge(
            id=new_id("ch"),
            amount_cents=request.amount_cents,
            currency=request.currency,
            card_token=request.card_token,
            description=request.description,
            status=ChargeStatus.SUCCEEDED
            if outcome is CardOutcome.APPROVE
            else ChargeStatus.DECLINED,
            refunded_cents=0,
            created_at=timestamp(self._clock()),
            reference=request.reference,
        )
        tx.insert_charge(charge)
        if charge.status is ChargeStatus.DECLINED:
            return Reply.of_error(CardDeclined("the card was declined", charge_id=charge.id))
        return Reply(CREATED, charge.as_json())

    def _refund(self, tx: Transaction, raw_body: bytes) -> Reply:
        request = parse_refund_request(raw_body)
        charge = tx.charge(request.charge_id)
        if charge is None:
            raise NotFound(f"no charge with id {request.charge_id}")
        refund = Refund(
            id=new_id("re"),
            charge_id=charge.id,
            amount_cents=charge.plan_refund(request.amount_cents),
            created_at=timestamp(self._clock()),
        )
        tx.insert_refund(refund)
        tx.update_charge(charge.refunded(refund.amount_cents))
        return Reply(CREATED, refund.as_json())
