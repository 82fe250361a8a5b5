"""The orders service's reads (history, a page of it, the cart) with in-memory fakes: the
users API is asked while the rows are read, and an unknown user is still the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import anyio
import pytest

from new_services.orders.errors import DependencyDown, UserNotFound
from new_services.orders.model import CartLine, Customer, Order, Product
from new_services.orders.ports import Unavailable
from new_services.orders.service import Orders

pytestmark = pytest.mark.anyio

ADA = Customer(7, "ada@example.com", "Ada")
TEAPOT = Product(1, "Teapot", 1999, 10)
READS: dict[str, Callable[[Orders], Awaitable[Any]]] = {
    "history": lambda orders: orders.history(ADA.id),
    "page": lambda orders: orders.page(ADA.id, None, 20),
    "cart": lambda orders: orders.cart(ADA.id),
}


class Shop:
    """The users API, the cart, the catalog and the order book, in memory. The users API
    answers only once the rows have been read: a read that waited for the user before
    reading would never finish."""

    def __init__(self, users_down: bool = False, rows_fail: bool = False) -> None:
        self.rows_read = anyio.Event()
        self._users_down = users_down
        self._rows_fail = rows_fail

    async def get(self, user_id: int) -> Customer | None:
        with anyio.fail_after(2):
            await self.rows_read.wait()
        if self._users_down:
            raise Unavailable("the users API did not answer")
        return ADA if user_id == ADA.id else None

    async def _read(self) -> None:
        self.rows_read.set()
        if self._rows_fail:
            raise RuntimeError("the database went away")

    async def history(self, user_id: int) -> Sequence[Order]:
        await self._read()
        return []

    async def page(
        self,
        user_id: int,
        after: tuple[datetime, int] | None,
        limit: int,
        oldest_first: bool = False,
    ) -> Sequence[Order]:
        await self._read()
        return []

    async def lines(self, user_id: int) -> Sequence[CartLine]:
        await self._read()
        return [CartLine(TEAPOT.id, 2)]

    async def products(self, ids: Sequence[int]) -> dict[int, Product]:
        return {TEAPOT.id: TEAPOT}


def orders_of(shop: Shop) -> Orders:
    return Orders(shop, shop, shop, shop, shop)  # type: ignore[arg-type]


@pytest.mark.parametrize("read", READS)
async def test_the_user_is_asked_for_while_the_rows_are_read(read: str) -> None:
    await READS[read](orders_of(Shop()))


async def test_the_cart_read_at_once_is_the_cart_answered() -> None:
    cart = await orders_of(Shop()).cart(ADA.id)
    assert [(item.product.name, item.quantity) for item in cart.items] == [("Teapot", 2)]


@pytest.mark.parametrize("read", ["history", "page"])
async def test_an_unknown_user_is_the_answer_even_while_the_database_fails(read: str) -> None:
    orders = orders_of(Shop(rows_fail=True))
    with pytest.raises(UserNotFound):
        await (orders.history(99) if read == "history" else orders.page(99, None, 20))
    with pytest.raises(RuntimeError, match="database"):  # a known user: the failure shows
        await READS[read](orders)


@pytest.mark.parametrize("read", READS)
async def test_a_users_api_that_does_not_answer_is_a_dependency_down(read: str) -> None:
    with pytest.raises(DependencyDown):
        await READS[read](orders_of(Shop(users_down=True)))


class RowsHang(Shop):
    """A users API that knows nobody and answers at once, and rows that never come."""

    async def get(self, user_id: int) -> Customer | None:
        return None

    async def _read(self) -> None:
        await anyio.sleep_forever()


@pytest.mark.parametrize("read", READS)
async def test_an_unknown_user_is_answered_without_waiting_for_the_rows(read: str) -> None:
    with anyio.fail_after(2), pytest.raises(UserNotFound):
        await READS[read](orders_of(RowsHang()))
