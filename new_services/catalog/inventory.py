"""Stock holds that can never oversell (legacy: `SMELL(stock-race)`).

A hold takes the units out of `products.stock` with one conditional UPDATE per line
(`... SET stock = stock - :n WHERE id = :id AND stock >= :n`), all lines in one
transaction: the database, not the order in which requests read, decides who gets the
last unit. The units stay out while the hold is `held`, go back if it is released (a
failed payment) and stay out for good once `committed` (the order is placed). Taking
them out of `stock` at once keeps the legacy app's view right: it reads the same column.
A hold whose checkout died is released by `release_expired`.

Mixed mode, honestly: a legacy checkout still writes `stock = <what it read> - n`, so
while legacy also sells, its write can undo one of ours (its own race, now across both
paths). Exactly-no-oversell holds once checkout is in extracted mode.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, insert, select, update

from new_services.catalog.tables import products, stock_reservations

HOLD_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int


class NotEnoughStock(Exception):
    def __init__(self, product_id: int) -> None:
        super().__init__(product_id)
        self.product_id = product_id


class Inventory:
    def __init__(self, engine: Engine, hold_for: timedelta = HOLD_FOR) -> None:
        self._engine = engine
        self._hold_for = hold_for

    def reserve(self, hold: uuid.UUID, lines: Sequence[Line]) -> None:
        """Take every line's units out of stock, or none; raises NotEnoughStock. Reserving
        the same hold again does nothing (a retried checkout)."""
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            known = conn.execute(
                select(stock_reservations.c.id).where(stock_reservations.c.order_uuid == hold)
            ).first()
            if known is not None:
                return
            for line in sorted(lines, key=lambda line: line.product_id):  # one lock order
                taken = conn.execute(
                    update(products)
                    .where(
                        products.c.id == line.product_id,
                        products.c.deleted_at.is_(None),
                        products.c.stock >= line.quantity,
                    )
                    .values(stock=products.c.stock - line.quantity)
                ).rowcount
                if not taken:
                    raise NotEnoughStock(line.product_id)  # rolls back every line before it
                conn.execute(
                    insert(stock_reservations).values(
                        id=uuid.uuid4(),
                        product_id=line.product_id,
                        order_uuid=hold,
                        quantity=line.quantity,
                        state="held",
                        created_at=now,
                        expires_at=now + self._hold_for,
                    )
                )

    def release(self, hold: uuid.UUID) -> int:
        """Put a held hold's units back; how many lines went back (0: nothing was held)."""
        return self._release(stock_reservations.c.order_uuid == hold)

    def release_expired(self) -> int:
        """Put back the units of holds whose checkout never finished."""
        return self._release(stock_reservations.c.expires_at < datetime.now(UTC))

    def commit(self, hold: uuid.UUID) -> None:
        """The order is placed: the units stay out of stock for good."""
        with self._engine.begin() as conn:
            conn.execute(
                update(stock_reservations)
                .where(
                    stock_reservations.c.order_uuid == hold, stock_reservations.c.state == "held"
                )
                .values(state="committed")
            )

    def _release(self, which: ColumnElement[bool]) -> int:
        with self._engine.begin() as conn:
            rows = conn.execute(
                update(stock_reservations)
                .where(and_(which, stock_reservations.c.state == "held"))
                .values(state="released")
                .returning(stock_reservations.c.product_id, stock_reservations.c.quantity)
            ).all()
            for product_id, quantity in rows:
                conn.execute(
                    update(products)
                    .where(products.c.id == product_id)
                    .values(stock=products.c.stock + quantity)
                )
        return len(rows)
