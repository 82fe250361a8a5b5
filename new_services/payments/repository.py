"""Where payments are kept: a port, its SQL implementation and an in-memory one for tests.

Both write a payment `pending` before the provider is called and confirm it after, and
reserve a refund's amount on its payment before the provider refunds it: the database,
not the timing of requests, decides that an order is paid once and refunded at most in
full.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from new_services.payments.model import Payment, PaymentStatus, Refund, RefundStatus
from new_services.payments.tables import payment_refunds, payments
from new_services.platform import keyset
from new_services.platform.database import single_statement_reads

Position = tuple[datetime, uuid.UUID]  # (created_at, id) of the last payment on a page


class OrderHasPayment(Exception):
    """The order already has a payment (pending or captured): `existing`."""

    def __init__(self, existing: Payment) -> None:
        super().__init__(str(existing.id))
        self.existing = existing


class Overrefund(Exception):
    """The refund would take back more than the payment has left."""


class RefundUnderWay(Exception):
    """The payment has a refund of its own pending: a refund the provider made and this
    ledger does not know may be that one, so none is recorded until it settles."""


class PaymentRepository(Protocol):
    def reserve(self, payment: Payment) -> None:
        """Write a pending payment; raises OrderHasPayment."""
        ...

    def capture(self, payment_id: uuid.UUID, charge_id: str, at: datetime) -> Payment:
        """Record the provider's charge on a pending payment; the payment as it is now."""
        ...

    def resume(self, payment_id: uuid.UUID, at: datetime) -> Payment:
        """Mark a pending payment as worked on again (`updated_at`), so the settler leaves
        it alone; the payment as it is now, whatever its status."""
        ...

    def stale(self, before: datetime, limit: int) -> list[Payment]:
        """Pending payments nothing has worked on since before `before`, oldest first;
        only those the provider knows by a reference (the settler can find out about)."""
        ...

    def void(
        self,
        payment_id: uuid.UUID,
        untouched_since: datetime,
        at: datetime,
        charge_id: str | None,
        refund: Refund | None,
    ) -> bool:
        """Give up a pending payment still untouched since `untouched_since`: `voided`, with
        the provider's charge and a pending refund of it when there is one, in one
        transaction. False when something worked on it meanwhile."""
        ...

    def stale_refunds(self, before: datetime, limit: int) -> list[tuple[Refund, str]]:
        """Refunds pending since before `before`, each with its payment's provider charge."""
        ...

    def voided_uncharged(self, before: datetime, made_after: datetime, limit: int) -> list[Payment]:
        """Payments voided with no charge, made after `made_after`, untouched since before
        `before`, least recently touched first: those the settler asks about again."""
        ...

    def touch_voided(self, payment_id: uuid.UUID, at: datetime) -> None:
        """Mark a payment voided with no charge as asked about at `at`."""
        ...

    def attach_late_charge(self, payment_id: uuid.UUID, charge_id: str, refund: Refund) -> bool:
        """Record a charge that landed on a payment already voided without one, with a
        pending refund of it, in one transaction; False when it has one already."""
        ...

    def adopt(self, payment: Payment) -> Payment:
        """Write a payment the provider has already captured, or return it if it is
        written; raises OrderHasPayment when its order or its charge has another."""
        ...

    def forget(self, payment_id: uuid.UUID) -> None:
        """Drop a pending payment the provider definitely did not charge (declined)."""
        ...

    def get(self, payment_id: uuid.UUID) -> Payment | None: ...

    def for_order(self, order_ref: str) -> Payment | None: ...

    def for_charge(self, charge_id: str) -> Payment | None: ...

    def record_provider_refund(self, refund: Refund) -> bool:
        """Record a refund the provider made that nobody here asked for (`refund` carries
        its provider id), succeeded, and count it on its captured payment, in one
        transaction; False when it is recorded already. Raises RefundUnderWay, or
        Overrefund when the payment has less left than it took back."""
        ...

    def in_time_order(
        self,
        after: Position | None,
        limit: int,
        oldest_first: bool = False,
        status: PaymentStatus | None = None,
    ) -> list[Payment]:
        """Newest (or oldest) first, after the (created_at, id) position; only those in
        `status` when given."""
        ...

    def abandon(
        self, payment_id: uuid.UUID, refunded_cents: int, at: datetime, refund: Refund | None
    ) -> bool:
        """Give up a captured (or refunded) payment whose order was never placed, with
        `refunded_cents` refunded so far: `voided`, with a pending refund of the rest, in one
        transaction. False when it is pending or voided, or was refunded meanwhile."""
        ...

    def unsettled(self, before: datetime) -> dict[str, Unsettled]:
        """Payments and refunds still pending that were started before `before`."""
        ...

    def get_refund(self, refund_id: uuid.UUID) -> Refund | None: ...

    def reserve_refund(self, refund: Refund) -> Refund:
        """Record a pending refund and count it against its payment, atomically; a refund
        with this id already recorded is returned as it is. Raises Overrefund."""
        ...

    def confirm_refund(self, refund_id: uuid.UUID, provider_refund_id: str) -> Refund: ...

    def revert_refund(self, refund_id: uuid.UUID) -> None:
        """The provider definitely refused: give the reserved amount back."""
        ...


_REFUNDABLE = [PaymentStatus.CAPTURED.value, PaymentStatus.PARTIALLY_REFUNDED.value]
_VOIDED_UNCHARGED = and_(
    payments.c.status == PaymentStatus.VOIDED.value, payments.c.provider_charge_id.is_(None)
)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


def _payment(row: Any) -> Payment:
    return Payment(
        id=row.id,
        order_ref=row.order_ref,
        amount_cents=row.amount_cents,
        currency=row.currency,
        status=PaymentStatus(row.status),
        provider_charge_id=row.provider_charge_id,
        refunded_cents=row.refunded_cents,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        request_hash=row.request_hash,
        provider_reference=row.provider_reference,
    )


def _row(payment: Payment) -> dict[str, Any]:
    """The payments row of `payment` (the inverse of `_payment`)."""
    return {
        "id": payment.id,
        "order_ref": payment.order_ref,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "status": payment.status.value,
        "request_hash": payment.request_hash,
        "provider_charge_id": payment.provider_charge_id,
        "refunded_cents": payment.refunded_cents,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "provider_reference": payment.provider_reference,
    }


def _refund_row(refund: Refund) -> dict[str, Any]:
    """The payment_refunds row of a refund just reserved (the inverse of `_refund`)."""
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "amount_cents": refund.amount_cents,
        "status": RefundStatus.PENDING.value,
        "provider_refund_id": None,
        "created_at": refund.created_at,
    }


def _refund(row: Any) -> Refund:
    return Refund(
        id=row.id,
        payment_id=row.payment_id,
        amount_cents=row.amount_cents,
        status=RefundStatus(row.status),
        provider_refund_id=row.provider_refund_id,
        created_at=_utc(row.created_at),
    )


def _refund_status(refunded: Any) -> Any:
    return case(
        (refunded == 0, PaymentStatus.CAPTURED.value),
        (refunded == payments.c.amount_cents, PaymentStatus.REFUNDED.value),
        else_=PaymentStatus.PARTIALLY_REFUNDED.value,
    )


@dataclass(frozen=True)
class Unsettled:
    count: int
    oldest: datetime | None  # when the oldest of them was started


class SqlPaymentRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)

    def reserve(self, payment: Payment) -> None:
        try:
            with self._engine.begin() as conn:
                pending = replace(
                    payment, status=PaymentStatus.PENDING, provider_charge_id=None, refunded_cents=0
                )
                conn.execute(insert(payments).values(_row(pending)))
        except IntegrityError as exc:
            existing = self._one(payments.c.order_ref == payment.order_ref)
            if existing is None:  # the id itself was taken: the same payment, retried
                existing = self._one(payments.c.id == payment.id)
            if existing is None:
                raise
            raise OrderHasPayment(existing) from exc

    def capture(self, payment_id: uuid.UUID, charge_id: str, at: datetime) -> Payment:
        return self._if_pending(
            payment_id, status="captured", provider_charge_id=charge_id, updated_at=at
        )

    def _if_pending(self, payment_id: uuid.UUID, **values: Any) -> Payment:
        """Set `values` on the payment if it is still pending; the payment as it is now."""
        with self._engine.begin() as conn:
            conn.execute(
                update(payments)
                .where(payments.c.id == payment_id, payments.c.status == "pending")
                .values(**values)
            )
            return _payment(conn.execute(select(payments).where(payments.c.id == payment_id)).one())

    def _update_with_refund(
        self, which: Any, values: dict[str, Any], refund: Refund | None
    ) -> bool:
        """Set `values` on the payment `which` picks and record `refund` beside it, in one
        transaction; False when `which` picked none."""
        with self._engine.begin() as conn:
            updated = conn.execute(update(payments).where(which).values(**values)).rowcount
            if updated and refund is not None:
                conn.execute(insert(payment_refunds).values(_refund_row(refund)))
        return bool(updated)

    def adopt(self, payment: Payment) -> Payment:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(payments).values(_row(payment)))
            return payment
        except IntegrityError as exc:
            existing = self._one(
                or_(
                    payments.c.id == payment.id,
                    payments.c.order_ref == payment.order_ref,
                    payments.c.provider_charge_id == payment.provider_charge_id,
                )
            )
            if existing is None:
                raise
            if existing.id == payment.id and existing.request_hash == payment.request_hash:
                return existing  # adopted before, refunds and all
            raise OrderHasPayment(existing) from exc

    def resume(self, payment_id: uuid.UUID, at: datetime) -> Payment:
        return self._if_pending(payment_id, updated_at=at)

    def abandon(
        self, payment_id: uuid.UUID, refunded_cents: int, at: datetime, refund: Refund | None
    ) -> bool:
        return self._update_with_refund(
            and_(
                payments.c.id == payment_id,
                payments.c.status.in_(
                    [
                        PaymentStatus.CAPTURED.value,
                        PaymentStatus.PARTIALLY_REFUNDED.value,
                        PaymentStatus.REFUNDED.value,
                    ]
                ),
                payments.c.refunded_cents == refunded_cents,
            ),
            {
                "status": PaymentStatus.VOIDED.value,
                "refunded_cents": refunded_cents + (refund.amount_cents if refund else 0),
                "updated_at": at,
            },
            refund,
        )

    def stale(self, before: datetime, limit: int) -> list[Payment]:
        return self._untouched(before, limit, payments.c.status == "pending")

    def void(
        self,
        payment_id: uuid.UUID,
        untouched_since: datetime,
        at: datetime,
        charge_id: str | None,
        refund: Refund | None,
    ) -> bool:
        return self._update_with_refund(
            and_(
                payments.c.id == payment_id,
                payments.c.status == "pending",
                payments.c.updated_at < untouched_since,
            ),
            {
                "status": PaymentStatus.VOIDED.value,
                "provider_charge_id": charge_id,
                "refunded_cents": refund.amount_cents if refund else 0,
                "updated_at": at,
            },
            refund,
        )

    def stale_refunds(self, before: datetime, limit: int) -> list[tuple[Refund, str]]:
        query = (
            select(payment_refunds, payments.c.provider_charge_id)
            .join(payments, payments.c.id == payment_refunds.c.payment_id)
            .where(
                payment_refunds.c.status == RefundStatus.PENDING.value,
                payment_refunds.c.created_at < before,
            )
            .order_by(payment_refunds.c.created_at)
            .limit(limit)
        )
        with self._reads.connect() as conn:
            return [(_refund(row), row.provider_charge_id) for row in conn.execute(query)]

    def voided_uncharged(self, before: datetime, made_after: datetime, limit: int) -> list[Payment]:
        return self._untouched(before, limit, _VOIDED_UNCHARGED, payments.c.created_at > made_after)

    def _untouched(self, before: datetime, limit: int, *which: Any) -> list[Payment]:
        """Payments matching `which` that the provider knows by a reference, untouched
        since before `before`, least recently touched first: what the settler asks about."""
        query = (
            select(payments)
            .where(
                *which,
                payments.c.updated_at < before,
                payments.c.provider_reference.is_not(None),
            )
            .order_by(payments.c.updated_at)
            .limit(limit)
        )
        with self._reads.connect() as conn:
            return [_payment(row) for row in conn.execute(query)]

    def touch_voided(self, payment_id: uuid.UUID, at: datetime) -> None:
        self._update_with_refund(
            and_(payments.c.id == payment_id, _VOIDED_UNCHARGED), {"updated_at": at}, None
        )

    def attach_late_charge(self, payment_id: uuid.UUID, charge_id: str, refund: Refund) -> bool:
        return self._update_with_refund(
            and_(payments.c.id == payment_id, _VOIDED_UNCHARGED),
            {
                "provider_charge_id": charge_id,
                "refunded_cents": refund.amount_cents,
                "updated_at": refund.created_at,
            },
            refund,
        )

    def forget(self, payment_id: uuid.UUID) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(payments).where(payments.c.id == payment_id, payments.c.status == "pending")
            )

    def _one(self, condition: Any) -> Payment | None:
        with self._reads.connect() as conn:
            row = conn.execute(select(payments).where(condition)).first()
        return _payment(row) if row else None

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        return self._one(payments.c.id == payment_id)

    def for_order(self, order_ref: str) -> Payment | None:
        return self._one(payments.c.order_ref == order_ref)

    def for_charge(self, charge_id: str) -> Payment | None:
        return self._one(payments.c.provider_charge_id == charge_id)

    def record_provider_refund(self, refund: Refund) -> bool:
        refunded = payments.c.refunded_cents + refund.amount_cents
        mine = payment_refunds.c.payment_id == refund.payment_id
        try:
            with self._engine.begin() as conn:
                known = select(payment_refunds.c.id).where(
                    payment_refunds.c.provider_refund_id == refund.provider_refund_id
                )
                if conn.execute(known).first() is not None:
                    return False
                # counted first: its row lock orders this against a refund being reserved
                counted = conn.execute(
                    update(payments)
                    .where(
                        payments.c.id == refund.payment_id,
                        payments.c.status.in_(_REFUNDABLE),
                        refunded <= payments.c.amount_cents,
                    )
                    .values(
                        refunded_cents=refunded,
                        status=_refund_status(refunded),
                        updated_at=refund.created_at,
                    )
                ).rowcount
                pending = select(payment_refunds.c.id).where(
                    mine, payment_refunds.c.status == RefundStatus.PENDING.value
                )
                if conn.execute(pending).first() is not None:  # (its amount is counted)
                    raise RefundUnderWay(str(refund.payment_id))
                if not counted:
                    raise Overrefund(str(refund.payment_id))
                made = {"status": RefundStatus.SUCCEEDED.value}
                made["provider_refund_id"] = str(refund.provider_refund_id)
                conn.execute(insert(payment_refunds).values({**_refund_row(refund), **made}))
        except IntegrityError:  # recorded meanwhile by another worker: rolled back, once
            if self._recorded(refund.provider_refund_id):
                return False
            raise
        return True

    def _recorded(self, provider_refund_id: str | None) -> bool:
        query = select(payment_refunds.c.id).where(
            payment_refunds.c.provider_refund_id == provider_refund_id
        )
        with self._reads.connect() as conn:
            return conn.execute(query).first() is not None

    def unsettled(self, before: datetime) -> dict[str, Unsettled]:
        found = {}
        with self._engine.connect() as conn:
            for kind, table, pending in (
                ("payment", payments, PaymentStatus.PENDING.value),
                ("refund", payment_refunds, RefundStatus.PENDING.value),
            ):
                count, oldest = conn.execute(
                    select(func.count(), func.min(table.c.created_at)).where(
                        table.c.status == pending, table.c.created_at < before
                    )
                ).one()
                found[kind] = Unsettled(count, _utc(oldest) if oldest is not None else None)
        return found

    def in_time_order(
        self,
        after: Position | None,
        limit: int,
        oldest_first: bool = False,
        status: PaymentStatus | None = None,
    ) -> list[Payment]:
        at, row_id = payments.c.created_at, payments.c.id
        query = select(payments).order_by(*keyset.ordering(at, row_id, oldest_first))
        if after is not None:
            query = query.where(keyset.past(at, row_id, after, oldest_first))
        if status is not None:
            query = query.where(payments.c.status == status.value)
        with self._reads.connect() as conn:
            return [_payment(row) for row in conn.execute(query.limit(limit))]

    def get_refund(self, refund_id: uuid.UUID) -> Refund | None:
        with self._reads.connect() as conn:
            return self._refund_row(conn, refund_id)

    def _refund_row(self, conn: Connection, refund_id: uuid.UUID) -> Refund | None:
        row = conn.execute(select(payment_refunds).where(payment_refunds.c.id == refund_id)).first()
        return _refund(row) if row else None

    def reserve_refund(self, refund: Refund) -> Refund:
        refunded = payments.c.refunded_cents + refund.amount_cents
        with self._engine.begin() as conn:
            known = self._refund_row(conn, refund.id)
            if known is not None:
                return known
            counted = conn.execute(
                update(payments)
                .where(
                    payments.c.id == refund.payment_id,
                    payments.c.status.not_in(
                        [PaymentStatus.PENDING.value, PaymentStatus.VOIDED.value]
                    ),
                    refunded <= payments.c.amount_cents,
                )
                .values(
                    refunded_cents=refunded,
                    status=_refund_status(refunded),
                    updated_at=refund.created_at,
                )
            ).rowcount
            if not counted:
                raise Overrefund(str(refund.payment_id))
            conn.execute(insert(payment_refunds).values(_refund_row(refund)))
        return refund

    def confirm_refund(self, refund_id: uuid.UUID, provider_refund_id: str) -> Refund:
        with self._engine.begin() as conn:
            conn.execute(
                update(payment_refunds)
                .where(payment_refunds.c.id == refund_id)
                .values(status=RefundStatus.SUCCEEDED.value, provider_refund_id=provider_refund_id)
            )
            found = self._refund_row(conn, refund_id)
        assert found is not None
        return found

    def revert_refund(self, refund_id: uuid.UUID) -> None:
        with self._engine.begin() as conn:
            refund = self._refund_row(conn, refund_id)
            if refund is None or refund.status is not RefundStatus.PENDING:
                return
            refunded = payments.c.refunded_cents - refund.amount_cents
            conn.execute(
                update(payments)
                .where(payments.c.id == refund.payment_id)
                .values(refunded_cents=refunded, status=_refund_status(refunded))
            )
            conn.execute(delete(payment_refunds).where(payment_refunds.c.id == refund_id))


class InMemoryPaymentRepository:
    def __init__(self) -> None:
        self.payments: dict[uuid.UUID, Payment] = {}
        self.refunds: dict[uuid.UUID, Refund] = {}

    def reserve(self, payment: Payment) -> None:
        for known in self.payments.values():
            if known.order_ref == payment.order_ref or known.id == payment.id:  # unique
                raise OrderHasPayment(known)
        self.payments[payment.id] = replace(payment, status=PaymentStatus.PENDING)

    def capture(self, payment_id: uuid.UUID, charge_id: str, at: datetime) -> Payment:
        payment = self.payments[payment_id]
        if payment.status is PaymentStatus.PENDING:
            payment = replace(
                payment, status=PaymentStatus.CAPTURED, provider_charge_id=charge_id, updated_at=at
            )
            self.payments[payment_id] = payment
        return payment

    def adopt(self, payment: Payment) -> Payment:
        for known in self.payments.values():
            if payment.id == known.id and payment.request_hash == known.request_hash:
                return known
            if (
                payment.id == known.id
                or payment.order_ref == known.order_ref
                or (payment.provider_charge_id == known.provider_charge_id)
            ):
                raise OrderHasPayment(known)
        self.payments[payment.id] = payment
        return payment

    def resume(self, payment_id: uuid.UUID, at: datetime) -> Payment:
        payment = self.payments[payment_id]
        if payment.status is PaymentStatus.PENDING:
            payment = self.payments[payment_id] = replace(payment, updated_at=at)
        return payment

    def stale(self, before: datetime, limit: int) -> list[Payment]:
        return self._untouched(before, limit, lambda p: p.status is PaymentStatus.PENDING)

    def void(
        self,
        payment_id: uuid.UUID,
        untouched_since: datetime,
        at: datetime,
        charge_id: str | None,
        refund: Refund | None,
    ) -> bool:
        payment = self.payments[payment_id]
        if payment.status is not PaymentStatus.PENDING or payment.updated_at >= untouched_since:
            return False
        self.payments[payment_id] = replace(
            payment,
            status=PaymentStatus.VOIDED,
            provider_charge_id=charge_id,
            refunded_cents=refund.amount_cents if refund else 0,
            updated_at=at,
        )
        if refund is not None:
            self.refunds[refund.id] = refund
        return True

    def stale_refunds(self, before: datetime, limit: int) -> list[tuple[Refund, str]]:
        pending = sorted(
            (r for r in self.refunds.values() if r.status is RefundStatus.PENDING),
            key=lambda r: r.created_at,
        )
        found = []
        for refund in pending:
            charge_id = self.payments[refund.payment_id].provider_charge_id
            if refund.created_at < before and charge_id is not None:
                found.append((refund, charge_id))
        return found[:limit]

    def voided_uncharged(self, before: datetime, made_after: datetime, limit: int) -> list[Payment]:
        return self._untouched(
            before, limit, lambda p: _voided_uncharged(p) and p.created_at > made_after
        )

    def _untouched(
        self, before: datetime, limit: int, which: Callable[[Payment], bool]
    ) -> list[Payment]:
        found = [
            p
            for p in self.payments.values()
            if which(p) and p.updated_at < before and p.provider_reference is not None
        ]
        return sorted(found, key=lambda p: p.updated_at)[:limit]

    def touch_voided(self, payment_id: uuid.UUID, at: datetime) -> None:
        payment = self.payments[payment_id]
        if _voided_uncharged(payment):
            self.payments[payment_id] = replace(payment, updated_at=at)

    def attach_late_charge(self, payment_id: uuid.UUID, charge_id: str, refund: Refund) -> bool:
        payment = self.payments[payment_id]
        if not _voided_uncharged(payment):
            return False
        self.payments[payment_id] = replace(
            payment,
            provider_charge_id=charge_id,
            refunded_cents=refund.amount_cents,
            updated_at=refund.created_at,
        )
        self.refunds[refund.id] = refund
        return True

    def forget(self, payment_id: uuid.UUID) -> None:
        if self.payments[payment_id].status is PaymentStatus.PENDING:
            del self.payments[payment_id]

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        return self.payments.get(payment_id)

    def for_order(self, order_ref: str) -> Payment | None:
        return next((p for p in self.payments.values() if p.order_ref == order_ref), None)

    def for_charge(self, charge_id: str) -> Payment | None:
        found = (p for p in self.payments.values() if p.provider_charge_id == charge_id)
        return next(found, None)

    def record_provider_refund(self, refund: Refund) -> bool:
        mine = [r for r in self.refunds.values() if r.payment_id == refund.payment_id]
        if any(r.provider_refund_id == refund.provider_refund_id for r in self.refunds.values()):
            return False
        payment = self.payments[refund.payment_id]
        if any(r.status is RefundStatus.PENDING for r in mine):
            raise RefundUnderWay(str(refund.payment_id))
        if (
            payment.status.value not in _REFUNDABLE
            or refund.amount_cents > payment.refundable_cents
        ):
            raise Overrefund(str(refund.payment_id))
        self.payments[payment.id] = payment.refunded(refund.amount_cents, refund.created_at)
        self.refunds[refund.id] = replace(refund, status=RefundStatus.SUCCEEDED)
        return True

    def in_time_order(
        self, after: Position | None, limit: int, oldest_first: bool = False
    ) -> list[Payment]:
        def position(p: Payment) -> Position:
            return p.created_at, p.id

        ordered = sorted(self.payments.values(), key=position, reverse=not oldest_first)
        if after is not None:
            ordered = [
                p for p in ordered if (position(p) > after if oldest_first else position(p) < after)
            ]
        return ordered[:limit]

    def unsettled(self, before: datetime) -> dict[str, Unsettled]:
        found: dict[str, Unsettled] = {}
        for kind, rows, pending in (
            ("payment", list(self.payments.values()), PaymentStatus.PENDING),
            ("refund", list(self.refunds.values()), RefundStatus.PENDING),
        ):
            started = [
                row.created_at for row in rows if row.status == pending and row.created_at < before
            ]
            found[kind] = Unsettled(len(started), min(started, default=None))
        return found

    def get_refund(self, refund_id: uuid.UUID) -> Refund | None:
        return self.refunds.get(refund_id)

    def reserve_refund(self, refund: Refund) -> Refund:
        if refund.id in self.refunds:
            return self.refunds[refund.id]
        payment = self.payments[refund.payment_id]
        if (
            payment.status in (PaymentStatus.PENDING, PaymentStatus.VOIDED)
            or refund.amount_cents > payment.refundable_cents
        ):
            raise Overrefund(str(refund.payment_id))
        self.payments[payment.id] = payment.refunded(refund.amount_cents, refund.created_at)
        self.refunds[refund.id] = refund
        return refund

    def confirm_refund(self, refund_id: uuid.UUID, provider_refund_id: str) -> Refund:
        refund = replace(
            self.refunds[refund_id],
            status=RefundStatus.SUCCEEDED,
            provider_refund_id=provider_refund_id,
        )
        self.refunds[refund_id] = refund
        return refund

    def revert_refund(self, refund_id: uuid.UUID) -> None:
        refund = self.refunds.pop(refund_id, None)
        if refund is not None and refund.status is RefundStatus.PENDING:
            payment = self.payments[refund.payment_id]
            total = payment.refunded_cents - refund.amount_cents
            status = PaymentStatus.CAPTURED if total == 0 else PaymentStatus.PARTIALLY_REFUNDED
            self.payments[payment.id] = replace(payment, refunded_cents=total, status=status)


def _voided_uncharged(payment: Payment) -> bool:
    return payment.status is PaymentStatus.VOIDED and payment.provider_charge_id is None
