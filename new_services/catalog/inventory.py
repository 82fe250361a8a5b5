"""Stock holds that can never oversell (legacy: `SMELL(stock-race)`), and restocks.

A hold takes the units out of `products.stock` with one conditional UPDATE per line
(`... SET stock = stock - :n WHERE id = :id AND stock >= :n`), all lines in one
transaction: the database, not the order in which requests read, decides who gets the
last unit. The units stay out while the hold is `held`, go back if it is released (a
failed payment) and stay out for good once `committed` (the order is placed). Taking
them out of `stock` at once keeps the legacy app's view right: it reads the same column.
A hold whose checkout died is released by `expire` (the catalog service runs it every
`CATALOG_SWEEP_EVERY_S`); a placed order's hold is committed by the catalog worker from
the order's event (jobs.py), long before it would expire. A deleted or unknown product
cannot be held (ProductUnavailable).

Each line's reservation row has an id derived from the hold's id, so two requests for
the same hold racing each other cannot both take stock: the second one's insert hits the
first one's primary key, its transaction (stock included) rolls back, and it finds the
hold made. A restock (a cancelled order's units going back) is written the same way, as
`released` lines under an id derived from its Idempotency-Key, in the transaction that
puts the units back: a retry after a crash finds it and restocks nothing twice.

A dry run (the gateway's mirror of a legacy write, `X-Strangler-Shadow: dry-run`) only
reads: one statement, outside any transaction, so it takes no row lock and no write lock
that a legacy checkout could wait on or deadlock with (legacy locks products in cart
order, a hold in id order). It answers as the real hold or restock would at that moment.

Locks, while legacy also writes stock: legacy's checkout updates products in cart order, so
a hold or restock that waited for a row legacy holds, while holding one legacy wants next,
would deadlock with it (PostgreSQL then aborts one side, and legacy has already charged the
card: a charge with no order). So the catalog never waits while it holds a product row: it
locks all of its rows first, in id order; it waits for the first (holding nothing, it closes
no cycle), and takes the others with `FOR UPDATE NOWAIT`; if one is taken, it lets go of
everything and tries again a moment later (up to `LOCK_TRIES` times, about a second in all),
then answers StockBusy (503, retry). Legacy may wait on the catalog, which finishes without
waiting on anyone while it holds a row: no cycle. SQLite locks the whole database: nothing
to do there.

Mixed mode, honestly: a legacy checkout still writes `stock = <what it read> - n`, so
while legacy also sells, its write can undo one of ours (its own race, now across both
paths). Exactly-no-oversell holds once checkout is in extracted mode.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from new_services.catalog.model import Hold, HoldState, Line
from new_services.catalog.tables import legacy_now, products, stock_reservations
from new_services.platform.database import single_statement_reads

__all__ = [
    "HOLD_FOR",
    "Hold",
    "Inventory",
    "Line",
    "NotEnoughStock",
    "ProductUnavailable",
    "StockBusy",
]

HOLD_FOR = timedelta(minutes=15)
LOCK_TRIES = 20
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when NOWAIT finds a row taken
T = TypeVar("T")


class StockBusy(Exception):
    """A product row stayed locked by another writer (legacy) through every try."""


class _Taken(Exception):
    """One of the rows to lock is held by another transaction."""


class NotEnoughStock(Exception):
    def __init__(self, product_id: int) -> None:
        super().__init__(product_id)
        self.product_id = product_id


class ProductUnavailable(NotEnoughStock):
    """The product is deleted or unknown: it has no stock to hold."""


def _line_id(owner: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(owner, str(index))


def _state(states: set[str]) -> HoldState:
    # every line of a hold moves together; "held" first so a half-done move shows as held
    for state in (HoldState.HELD, HoldState.COMMITTED):
        if state.value in states:
            return state
    return HoldState.RELEASED


class Inventory:
    def __init__(self, engine: Engine, hold_for: timedelta = HOLD_FOR) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)
        self._hold_for = hold_for

    def reserve(self, hold: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False) -> bool:
        """Take every line's units out of stock, or none; raises NotEnoughStock. True when
        taken now, False when the hold already existed (a retried checkout: nothing more
        is held). A dry run checks every line against the stock of this moment, reading
        only."""
        if dry_run:
            return self._check(hold, lines)
        return self._without_waiting(lambda: self._reserve(hold, lines))

    def _reserve(self, hold: uuid.UUID, lines: Sequence[Line]) -> bool:
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as conn:
                if self._lines(conn, hold):
                    return False
                ordered = sorted(lines, key=lambda line: line.product_id)  # one lock order
                _lock(conn, (line.product_id for line in ordered))
                for index, line in enumerate(ordered):
                    taken = conn.execute(
                        update(products)
                        .where(
                            products.c.id == line.product_id,
                            products.c.deleted_at.is_(None),
                            products.c.stock >= line.quantity,
                        )
                        .values(stock=products.c.stock - line.quantity, updated_at=legacy_now())
                    ).rowcount
                    if not taken:  # raising rolls back every line before this one
                        if self._is_live(conn, line.product_id):
                            raise NotEnoughStock(line.product_id)
                        raise ProductUnavailable(line.product_id)
                    self._record(conn, hold, index, line, HoldState.HELD, now, self._hold_for)
        except IntegrityError:
            if self.find(hold) is None:
                raise
            return False  # the same hold, made by a request that raced this one
        return True

    def _check(self, hold: uuid.UUID, lines: Sequence[Line]) -> bool:
        """`reserve`'s answer, from reads alone: the same checks in the same order."""
        ids = sorted({line.product_id for line in lines})
        with self._reads.connect() as conn:
            if self._rows(conn, hold):
                return False
            rows = conn.execute(
                select(products.c.id, products.c.stock, products.c.deleted_at).where(
                    products.c.id.in_(ids)
                )
            ).all()
        stock = {row.id: (row.stock, row.deleted_at is None) for row in rows}
        for line in sorted(lines, key=lambda line: line.product_id):
            left, live = stock.get(line.product_id, (0, False))
            if not live:
                raise ProductUnavailable(line.product_id)
            if left < line.quantity:
                raise NotEnoughStock(line.product_id)
        return True

    def find(self, hold: uuid.UUID) -> Hold | None:
        with self._engine.connect() as conn:
            rows = self._rows(conn, hold)
        if not rows:
            return None
        lines = tuple(Line(row.product_id, row.quantity) for row in rows)
        return Hold(hold, _state({row.state for row in rows}), lines)

    def release(self, hold: uuid.UUID) -> int:
        """Put a held hold's units back; how many lines went back (0: nothing was held)."""
        return len(self._release(stock_reservations.c.order_uuid == hold))

    def release_expired(self) -> int:
        """Put back the units of holds whose checkout never finished."""
        return len(self.expire())

    def expire(self) -> list[Line]:
        """`release_expired`, answering the lines that went back."""
        return self._release(stock_reservations.c.expires_at < datetime.now(UTC))

    def commit(self, hold: uuid.UUID) -> None:
        """The order is placed: the units stay out of stock for good."""
        with self._engine.begin() as conn:
            conn.execute(
                update(stock_reservations)
                .where(
                    stock_reservations.c.order_uuid == hold, stock_reservations.c.state == "held"
                )
                .values(state=HoldState.COMMITTED.value)
            )

    def restock(
        self, restock: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False
    ) -> tuple[Line, ...]:
        """Put units back (a cancelled order), once per `restock` id; the lines that went
        back (deleted and unknown products are skipped). Known id: what it put back then.
        A dry run reads only."""
        if dry_run:
            return self._restockable(restock, lines)
        return self._without_waiting(lambda: self._restock(restock, lines))

    def _restock(self, restock: uuid.UUID, lines: Sequence[Line]) -> tuple[Line, ...]:
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as conn:
                known = self._lines(conn, restock)
                if known:
                    return known
                done: list[Line] = []
                ordered = sorted(lines, key=lambda line: line.product_id)
                _lock(conn, (line.product_id for line in ordered))
                for index, line in enumerate(ordered):
                    found = conn.execute(
                        update(products)
                        .where(products.c.id == line.product_id, products.c.deleted_at.is_(None))
                        .values(stock=products.c.stock + line.quantity, updated_at=legacy_now())
                    ).rowcount
                    if found:
                        self._record(conn, restock, index, line, HoldState.RELEASED, now)
                        done.append(line)
                return tuple(done)
        except IntegrityError:
            found_hold = self.find(restock)
            if found_hold is None:
                raise
            return found_hold.lines

    def _restockable(self, restock: uuid.UUID, lines: Sequence[Line]) -> tuple[Line, ...]:
        """`restock`'s answer, from reads alone."""
        with self._reads.connect() as conn:
            known = self._lines(conn, restock)
            if known:
                return known
            live = set(
                conn.execute(
                    select(products.c.id).where(
                        products.c.id.in_({line.product_id for line in lines}),
                        products.c.deleted_at.is_(None),
                    )
                ).scalars()
            )
        ordered = sorted(lines, key=lambda line: line.product_id)
        return tuple(line for line in ordered if line.product_id in live)

    @staticmethod
    def _is_live(conn: Connection, product_id: int) -> bool:
        live = select(products.c.id).where(
            products.c.id == product_id, products.c.deleted_at.is_(None)
        )
        return conn.execute(live).first() is not None

    def _rows(self, conn: Connection, owner: uuid.UUID) -> Sequence[Any]:
        return conn.execute(
            select(
                stock_reservations.c.product_id,
                stock_reservations.c.quantity,
                stock_reservations.c.state,
            )
            .where(stock_reservations.c.order_uuid == owner)
            .order_by(stock_reservations.c.product_id)
        ).all()

    def _lines(self, conn: Connection, owner: uuid.UUID) -> tuple[Line, ...]:
        return tuple(Line(row.product_id, row.quantity) for row in self._rows(conn, owner))

    @staticmethod
    def _record(
        conn: Connection,
        owner: uuid.UUID,
        index: int,
        line: Line,
        state: HoldState,
        now: datetime,
        lasts: timedelta = timedelta(0),
    ) -> None:
        conn.execute(
            insert(stock_reservations).values(
                id=_line_id(owner, index),
                product_id=line.product_id,
                order_uuid=owner,
                quantity=line.quantity,
                state=state.value,
                created_at=now,
                expires_at=now + lasts,
            )
        )

    def _release(self, which: ColumnElement[bool]) -> list[Line]:
        return self._without_waiting(lambda: self._put_back(which))

    def _put_back(self, which: ColumnElement[bool]) -> list[Line]:
        held = and_(which, stock_reservations.c.state == HoldState.HELD.value)
        with self._engine.begin() as conn:
            _lock(
                conn,
                conn.execute(
                    select(stock_reservations.c.product_id).where(held).distinct()
                ).scalars(),
            )
            rows = conn.execute(
                update(stock_reservations)
                .where(held)
                .values(state=HoldState.RELEASED.value)
                .returning(stock_reservations.c.product_id, stock_reservations.c.quantity)
            ).all()
            for product_id, quantity in rows:
                conn.execute(
                    update(products)
                    .where(products.c.id == product_id)
                    .values(stock=products.c.stock + quantity, updated_at=legacy_now())
                )
        return [Line(product_id, quantity) for product_id, quantity in rows]

    @staticmethod
    def _without_waiting(write: Callable[[], T]) -> T:
        """Run `write` (one transaction that locks with `_lock`) until it gets its rows."""
        for attempt in range(LOCK_TRIES):
            try:
                return write()
            except _Taken:
                time.sleep(random.uniform(0.005, 0.01 * (attempt + 1)))
        raise StockBusy("a product's stock stayed locked by another writer; retry")


def _lock(conn: Connection, product_ids: Iterable[int]) -> None:
    """Lock the products' rows in id order (PostgreSQL). The first one is waited for: the
    transaction holds no row yet, and a waiter that holds nothing closes no deadlock cycle
    (so two hundred holds of one product queue as they always did). The others are taken
    only if free, or _Taken is raised and the transaction lets go of the first."""
    ids = sorted(set(product_ids))
    if not ids or conn.dialect.name != "postgresql":
        return
    conn.execute(select(products.c.id).where(products.c.id == ids[0]).with_for_update()).all()
    if len(ids) == 1:
        return
    try:
        conn.execute(
            select(products.c.id)
            .where(products.c.id.in_(ids[1:]))
            .order_by(products.c.id)
            .with_for_update(nowait=True)
        ).all()
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise _Taken from exc
        raise
