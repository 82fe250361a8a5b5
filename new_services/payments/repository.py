"""Where payments are kept: a port, its SQL implementation and an in-memory one for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, and_, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from new_services.payments.model import Payment, PaymentStatus, Refund
from new_services.payments.tables import payment_refunds, payments

Position = tuple[datetime, uuid.UUID]  # (created_at, id) of the last payment on a page


class DuplicateOrder(Exception):
    """The order already has a payment (the unique order_ref said so)."""


class Overrefund(Exception):
    """The refund would take back more than the payment has left."""


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> None:
        """Raises DuplicateOrder when the order already has a payment."""
        ...

    def get(self, payment_id: uuid.UUID) -> Payment | None: ...

    def for_order(self, order_ref: str) -> Payment | None: ...

    def newest_first(self, after: Position | None, limit: int) -> list[Payment]: ...

    def add_refund(self, refund: Refund, at: datetime) -> Payment:
        """Store the refund and add it to its payment, together and atomically (two refunds
        at once cannot both count against the same cents); raises Overrefund."""
        ...


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
    )


class SqlPaymentRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, payment: Payment) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(payments).values(
                        id=payment.id,
                        order_ref=payment.order_ref,
                        amount_cents=payment.amount_cents,
                        currency=payment.currency,
                        status=payment.status.value,
                        provider_charge_id=payment.provider_charge_id,
                        refunded_cents=payment.refunded_cents,
                        created_at=payment.created_at,
                        updated_at=payment.updated_at,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateOrder(payment.order_ref) from exc

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(payments).where(payments.c.id == payment_id)).first()
        return _payment(row) if row else None

    def for_order(self, order_ref: str) -> Payment | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(payments).where(payments.c.order_ref == order_ref)).first()
        return _payment(row) if row else None

    def newest_first(self, after: Position | None, limit: int) -> list[Payment]:
        query = select(payments).order_by(payments.c.created_at.desc(), payments.c.id.desc())
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(
                    payments.c.created_at < at,
                    and_(payments.c.created_at == at, payments.c.id < last_id),
                )
            )
        with self._engine.connect() as conn:
            return [_payment(row) for row in conn.execute(query.limit(limit))]

    def add_refund(self, refund: Refund, at: datetime) -> Payment:
        after = payments.c.refunded_cents + refund.amount_cents
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(payments)
                .where(payments.c.id == refund.payment_id, after <= payments.c.amount_cents)
                .values(
                    refunded_cents=after,
                    status=case(
                        (after == payments.c.amount_cents, PaymentStatus.REFUNDED.value),
                        else_=PaymentStatus.PARTIALLY_REFUNDED.value,
                    ),
                    updated_at=at,
                )
            ).rowcount
            if not changed:
                raise Overrefund(str(refund.payment_id))
            conn.execute(
                insert(payment_refunds).values(
                    id=refund.id,
                    payment_id=refund.payment_id,
                    amount_cents=refund.amount_cents,
                    provider_refund_id=refund.provider_refund_id,
                    created_at=refund.created_at,
                )
            )
            row = conn.execute(select(payments).where(payments.c.id == refund.payment_id)).one()
        return _payment(row)


class InMemoryPaymentRepository:
    def __init__(self) -> None:
        self.payments: dict[uuid.UUID, Payment] = {}
        self.refunds: list[Refund] = []

    def add(self, payment: Payment) -> None:
        if any(p.order_ref == payment.order_ref for p in self.payments.values()):  # unique
            raise DuplicateOrder(payment.order_ref)
        self.payments[payment.id] = payment

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        return self.payments.get(payment_id)

    def for_order(self, order_ref: str) -> Payment | None:
        return next((p for p in self.payments.values() if p.order_ref == order_ref), None)

    def newest_first(self, after: Position | None, limit: int) -> list[Payment]:
        ordered = sorted(self.payments.values(), key=lambda p: (p.created_at, p.id), reverse=True)
        if after is not None:
            ordered = [p for p in ordered if (p.created_at, p.id) < after]
        return ordered[:limit]

    def add_refund(self, refund: Refund, at: datetime) -> Payment:
        payment = self.payments[refund.payment_id]
        if refund.amount_cents > payment.refundable_cents:
            raise Overrefund(str(refund.payment_id))
        self.refunds.append(refund)
        self.payments[payment.id] = payment.refunded(refund.amount_cents, at)
        return self.payments[payment.id]
