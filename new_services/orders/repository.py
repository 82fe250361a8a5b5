"""Where orders and carts are kept: the legacy tables, written the right way.

Placing an order is one transaction: the order, its lines, its `order.placed` event in
the outbox and the emptied cart commit together or not at all (legacy: four separate
transactions around a synchronous e-mail). A user's history is one indexed query, orders
joined to their lines, not one query per order (legacy: `SMELL(n-plus-one)`), read outside
a transaction (`single_statement_reads`); and a cancelled order is soft-deleted with its
event, not erased (legacy: `SMELL(hard-delete)`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, RowMapping, delete, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from new_services.orders.model import (
    CartLine,
    Charge,
    Order,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
)
from new_services.orders.ports import OrderAbandoned, OrderExists
from new_services.orders.pricing import Price
from new_services.orders.tables import (
    cart_items,
    order_fates,
    order_items,
    orders,
    orders_with_email_flag,
)
from new_services.platform import keyset
from new_services.platform.database import single_statement_reads
from new_services.platform.outbox import Event, append

T = TypeVar("T")
Position = tuple[datetime, int]  # (created_at, id) of the last order on a page


def _naive_utc(moment: datetime) -> datetime:
    """How the legacy columns hold time: naive UTC, whole seconds."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


async def _in_thread(call: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(call)


def _event(change: OrderPlaced | OrderCancelled) -> Event:
    return Event(change.topic, str(change.order.uuid), change.payload())


class SqlOrderBook:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)
        columns = {column["name"] for column in inspect(engine).get_columns("orders")}
        self._email_flag = "email_sent" in columns  # gone once the contract step has run

    async def place(self, order: Order, event: OrderPlaced) -> Order:
        return await _in_thread(lambda: self._place(order, event))

    def _place(self, order: Order, event: OrderPlaced) -> Order:
        values: dict[str, Any] = {
            "uuid": order.uuid,
            "user_id": order.user_id,
            "status": order.status,
            **order.price.as_fields(),
            "charge_id": order.charge_id,
            "created_at": _naive_utc(order.created_at),
            "metadata": {"payment_id": order.charge.payment_id} if order.charge else {},
        }
        table = orders
        if self._email_flag:
            table, values["email_sent"] = orders_with_email_flag, False
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(order_fates).values(_fate(order.uuid, PLACED)))
                return self._write(conn, table, values, order, event)
        except IntegrityError:
            if self._fate_of(order.uuid) == ABANDONED:
                raise OrderAbandoned(f"order {order.uuid} was given up on") from None
            placed = self._any(order.uuid)
            if placed is None:
                raise
            raise OrderExists(placed) from None

    @staticmethod
    def _write(
        conn: Connection, table: Any, values: dict[str, Any], order: Order, event: OrderPlaced
    ) -> Order:
        order_id = conn.execute(insert(table).values(values).returning(table.c.id)).scalar_one()
        conn.execute(
            insert(order_items),
            [
                {
                    "order_id": order_id,
                    "product_id": line.product_id,
                    "product_name": line.name,
                    "unit_price_cents": line.unit_price_cents,
                    "quantity": line.quantity,
                }
                for line in order.lines
            ],
        )
        placed = replace(order, id=order_id)
        append(conn, _event(replace(event, order=placed)))
        conn.execute(delete(cart_items).where(cart_items.c.user_id == order.user_id))
        return placed

    async def abandon(self, order: uuid.UUID, at: datetime) -> bool:
        def write() -> bool:
            try:
                with self._engine.begin() as conn:
                    # an order on the books with no fate: placed before fates were written,
                    # or by legacy (whose charges payments adopts to refund them)
                    if conn.execute(select(orders.c.id).where(orders.c.uuid == order)).first():
                        return False
                    conn.execute(insert(order_fates).values(_fate(order, ABANDONED, at)))
            except IntegrityError:  # placed meanwhile, or abandoned before
                return self._fate_of(order) == ABANDONED
            return True

        return await _in_thread(write)

    def _fate_of(self, order: uuid.UUID) -> str | None:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(order_fates.c.fate).where(order_fates.c.order_uuid == order)
            ).scalar_one_or_none()
        return None if found is None else str(found)

    def _any(self, order: uuid.UUID) -> Order | None:
        """The order by uuid, cancelled or not."""
        with self._engine.connect() as conn:
            found = _orders(conn, orders.c.uuid == order, (orders.c.id,), 1)
        return found[0] if found else None

    async def get(self, order_id: int) -> Order | None:
        def read() -> Order | None:
            with self._reads.connect() as conn:
                found = _live(conn, orders.c.id == order_id)
            return found[0] if found else None

        return await _in_thread(read)

    async def history(self, user_id: int) -> Sequence[Order]:
        def read() -> list[Order]:
            with self._reads.connect() as conn:
                return _live(conn, orders.c.user_id == user_id)

        return await _in_thread(read)

    async def by_uuid(self, order: uuid.UUID) -> Order | None:
        def read() -> Order | None:
            with self._reads.connect() as conn:
                found = _live(conn, orders.c.uuid == order)
            return found[0] if found else None

        return await _in_thread(read)

    async def page(
        self, user_id: int, after: Position | None, limit: int, oldest_first: bool = False
    ) -> Sequence[Order]:
        """One page of the user's live orders, newest (or oldest) first, after `after`
        (keyset: the index on (user_id, created_at, id) serves it at any depth, either way)."""

        def read() -> list[Order]:
            which = orders.c.user_id == user_id
            if after is not None:
                position = (_naive_utc(after[0]), after[1])
                which = which & keyset.past(
                    orders.c.created_at, orders.c.id, position, oldest_first
                )
            with self._reads.connect() as conn:
                return _live(conn, which, limit, oldest_first)

        return await _in_thread(read)

    async def feed(self, after: int, limit: int) -> Sequence[Order]:
        """Every order with an id above `after`, cancelled ones included, by id: the
        whole book in pages, for a read model rebuilt from it (analytics)."""

        def read() -> list[Order]:
            with self._reads.connect() as conn:
                return _orders(conn, orders.c.id > after, (orders.c.id,), limit)

        return await _in_thread(read)

    async def set_status(self, order: Order, status: str, was: str) -> bool:
        def write() -> bool:
            with self._engine.begin() as conn:
                moved = conn.execute(
                    update(orders)
                    .where(
                        orders.c.id == order.id,
                        orders.c.deleted_at.is_(None),
                        orders.c.status == was,
                    )
                    .values(status=status)
                ).rowcount
                return bool(moved)

        return await _in_thread(write)

    async def cancelling(self, limit: int) -> Sequence[Order]:
        def read() -> list[Order]:
            with self._reads.connect() as conn:
                return _live(conn, orders.c.status == "cancelling", limit, oldest_first=True)

        return await _in_thread(read)

    async def cancel(self, order: Order, at: datetime) -> OrderCancelled | None:
        def write() -> OrderCancelled | None:
            with self._engine.begin() as conn:
                gone = conn.execute(
                    update(orders)
                    .where(orders.c.id == order.id, orders.c.deleted_at.is_(None))
                    .values(status="cancelled", deleted_at=at)
                ).rowcount
                if not gone:
                    return None
                cancelled = OrderCancelled(order, at)
                append(conn, _event(cancelled))
                return cancelled

        return await _in_thread(write)


def _live(
    conn: Connection, which: Any, limit: int | None = None, oldest_first: bool = False
) -> list[Order]:
    """Live orders matching `which`, newest (or oldest) first, with their lines."""
    order_by = keyset.ordering(orders.c.created_at, orders.c.id, oldest_first)
    return _orders(conn, which & orders.c.deleted_at.is_(None), order_by, limit)


def _orders(
    conn: Connection, which: Any, order_by: tuple[Any, ...], limit: int | None
) -> list[Order]:
    """One query: the orders matching `which` (the first `limit` by `order_by`), each row
    joined to its lines, so a page costs one round trip however many orders it holds."""
    heads = select(orders.c.id).where(which).order_by(*order_by).limit(limit)
    item = order_items.c
    rows = conn.execute(
        select(orders, item.product_id, item.product_name, item.unit_price_cents, item.quantity)
        .select_from(orders.outerjoin(order_items, item.order_id == orders.c.id))
        .where(orders.c.id.in_(heads.scalar_subquery()))
        .order_by(*order_by, item.id)
    ).mappings()
    found: list[Order] = []
    head: RowMapping | None = None
    lines: list[OrderLine] = []
    for row in rows:
        if head is None or row["id"] != head["id"]:
            if head is not None:
                found.append(_order(head, lines))
            head, lines = row, []
        if row["product_id"] is not None:  # None: an order without lines (outer join)
            lines.append(
                OrderLine(
                    row["product_id"],
                    row["product_name"],
                    row["unit_price_cents"],
                    row["quantity"],
                )
            )
    if head is not None:
        found.append(_order(head, lines))
    return found


def _order(row: RowMapping, lines: list[OrderLine]) -> Order:
    meta = row["metadata"] or {}
    charge = None
    if row["charge_id"] is not None:
        charge = Charge(meta.get("payment_id"), row["charge_id"])
    return Order(
        uuid=row["uuid"],
        user_id=row["user_id"],
        lines=tuple(lines),
        price=Price.from_fields(row),
        charge=charge,
        created_at=row["created_at"].replace(tzinfo=UTC),
        id=row["id"],
        status=row["status"],
    )


class SqlCarts:
    """The carts: one row per (user, product), in the order lines were first added."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)

    async def lines(self, user_id: int) -> Sequence[CartLine]:
        def read() -> list[CartLine]:
            with self._reads.connect() as conn:
                rows = conn.execute(
                    select(cart_items.c.product_id, cart_items.c.quantity)
                    .where(cart_items.c.user_id == user_id)
                    .order_by(cart_items.c.id)
                )
                return [CartLine(product_id, quantity) for product_id, quantity in rows]

        return await _in_thread(read)

    async def add(self, user_id: int, product_id: int, quantity: int, cap: int) -> bool:
        def write() -> bool:
            mine = (cart_items.c.user_id == user_id) & (cart_items.c.product_id == product_id)
            with self._engine.begin() as conn:
                grown = conn.execute(
                    update(cart_items)
                    .where(mine, cart_items.c.quantity + quantity <= cap)
                    .values(quantity=cart_items.c.quantity + quantity)
                ).rowcount
                if grown:
                    return True
                if conn.execute(select(cart_items.c.id).where(mine)).first() is not None:
                    return False  # the line exists and would pass the cap
                conn.execute(
                    insert(cart_items).values(
                        user_id=user_id,
                        product_id=product_id,
                        quantity=quantity,
                        added_at=_naive_utc(datetime.now(UTC)),
                    )
                )
                return True

        return await _in_thread(write)

    async def remove(self, user_id: int, product_id: int) -> bool:
        def write() -> bool:
            with self._engine.begin() as conn:
                return bool(
                    conn.execute(
                        delete(cart_items).where(
                            cart_items.c.user_id == user_id, cart_items.c.product_id == product_id
                        )
                    ).rowcount
                )

        return await _in_thread(write)


PLACED, ABANDONED = "placed", "abandoned"


def _fate(order: uuid.UUID, fate: str, at: datetime | None = None) -> dict[str, Any]:
    return {"order_uuid": order, "fate": fate, "decided_at": at or datetime.now(UTC)}
