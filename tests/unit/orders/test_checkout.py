"""Checkout's steps with in-memory fakes of its ports: what is held, charged, placed and
given back on each path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import pytest

from new_services.orders.checkout import Checkout, order_uuid_for
from new_services.orders.errors import (
    CardInvalid,
    CartEmpty,
    CheckoutAbandoned,
    CheckoutKeyReused,
    DependencyDown,
    InvalidDiscountCode,
    OutOfStock,
    PaymentDeclined,
    PaymentFailed,
    ProductUnavailable,
    UserNotFound,
)
from new_services.orders.model import (
    CartLine,
    Charge,
    Customer,
    Order,
    OrderPlaced,
    PlaceOrder,
    Product,
    Refund,
)
from new_services.orders.ports import (
    CardUnknown,
    Declined,
    KeyReused,
    NotEnoughStock,
    OrderAbandoned,
    OrderExists,
    ProductGone,
    Unavailable,
    Voided,
)

pytestmark = pytest.mark.anyio

ADA = Customer(7, "ada@example.com", "Ada")


@dataclass
class FakeShop:
    """Customers, carts, catalog, payments and the order book, in memory."""

    carts: dict[int, list[CartLine]] = field(default_factory=dict)
    stock: dict[int, int] = field(default_factory=dict)
    catalog: dict[int, Product] = field(default_factory=dict)
    held: dict[uuid.UUID, Sequence[CartLine]] = field(default_factory=dict)
    charges: dict[uuid.UUID, int] = field(default_factory=dict)
    descriptions: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    placed: list[tuple[Order, OrderPlaced]] = field(default_factory=list)
    gone_at_hold: set[int] = field(default_factory=set)
    payments_say: Exception | None = None
    book_fails: bool = False
    abandoned: set[uuid.UUID] = field(default_factory=set)

    async def get(self, user_id: int) -> Customer | None:
        return ADA if user_id == ADA.id else None

    async def lines(self, user_id: int) -> Sequence[CartLine]:
        return self.carts.get(user_id, [])

    async def products(self, ids: Sequence[int]) -> dict[int, Product]:
        found = (self.catalog[i] for i in ids if i in self.catalog)
        return {p.id: Product(p.id, p.name, p.price_cents, self.stock[p.id]) for p in found}

    async def reserve(
        self, reservation: uuid.UUID, lines: Sequence[CartLine], dry_run: bool = False
    ) -> None:
        for line in lines:
            if line.product_id in self.gone_at_hold:
                raise ProductGone(line.product_id)
            if self.stock[line.product_id] < line.quantity:
                raise NotEnoughStock(line.product_id)
        if dry_run:
            return
        for line in lines:
            self.stock[line.product_id] -= line.quantity
        self.held[reservation] = lines

    async def release(self, reservation: uuid.UUID) -> None:
        for line in self.held.pop(reservation, []):
            self.stock[line.product_id] += line.quantity

    async def restock(self, key: str, lines: Sequence[CartLine]) -> None:
        raise AssertionError("checkout never restocks")

    async def charge(
        self, order: uuid.UUID, amount_cents: int, card_token: str, description: str, key: str
    ) -> Charge:
        if self.payments_say is not None:
            raise self.payments_say
        self.charges[order] = amount_cents
        self.descriptions.append(description)
        return Charge(f"pay_{order.hex[:6]}", f"ch_{order.hex[:6]}")

    async def refund(self, payment_id: str, key: str) -> Refund:
        self.refunded.append(payment_id)
        return Refund("re_1", 0)

    async def adopt(self, order: uuid.UUID, charge_id: str) -> str:
        raise AssertionError("checkout never adopts a charge")

    async def place(self, order: Order, event: OrderPlaced) -> Order:
        if self.book_fails:
            raise RuntimeError("the database went away")
        if order.uuid in self.abandoned:
            raise OrderAbandoned(str(order.uuid))
        for placed_before, _ in self.placed:
            if placed_before.uuid == order.uuid:
                raise OrderExists(placed_before)
        self.carts.pop(order.user_id)
        placed = Order(**{**order.__dict__, "id": len(self.placed) + 1})
        self.placed.append((placed, event))
        return placed


@pytest.fixture
def shop() -> FakeShop:
    return FakeShop(
        carts={ADA.id: [CartLine(1, 2), CartLine(2, 1)]},
        stock={1: 10, 2: 1},
        catalog={1: Product(1, "Teapot", 1999), 2: Product(2, "Cups", 450)},
    )


@pytest.fixture
def checkout(shop: FakeShop) -> Checkout:
    return Checkout(shop, shop, shop, shop, shop)


async def test_a_checkout_holds_stock_charges_once_and_places_the_order_with_its_event(
    checkout: Checkout, shop: FakeShop
) -> None:
    order = await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k1")
    assert order.id == 1 and order.uuid == order_uuid_for("k1")
    assert order.price.total_cents == 5303  # 4448 + 499 + 356 (legacy_app/API.md pricing)
    assert shop.charges == {order.uuid: 5303}
    assert shop.descriptions == ["Order for ada@example.com"]  # the legacy wording
    # the stock stays held: the catalog makes the hold final from the event, which names it
    ((hold, _),) = shop.held.items()
    assert shop.stock == {1: 8, 2: 0}
    ((placed, event),) = shop.placed
    assert placed == order
    assert event.topic == "order.placed"
    assert event.payload()["email"] == "ada@example.com"
    assert event.payload()["hold_id"] == str(hold)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda s: s.carts.clear(), CartEmpty),
        (lambda s: s.gone_at_hold.add(2), ProductUnavailable),
        (lambda s: s.stock.update({2: 0}), OutOfStock),
    ],
)
async def test_a_checkout_that_cannot_go_ahead_changes_nothing(
    checkout: Checkout, shop: FakeShop, change: object, error: type[Exception]
) -> None:
    change(shop)  # type: ignore[operator]
    stock_before = dict(shop.stock)
    with pytest.raises(error):
        await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert shop.stock == stock_before and shop.charges == {} and shop.placed == []


async def test_an_unknown_user_or_discount_code_is_refused_before_anything_is_held(
    checkout: Checkout, shop: FakeShop
) -> None:
    with pytest.raises(UserNotFound):
        await checkout(PlaceOrder(99, "tok_visa"), key="k")
    with pytest.raises(InvalidDiscountCode):
        await checkout(PlaceOrder(ADA.id, "tok_visa", "FREE"), key="k")
    assert shop.held == {} and shop.stock == {1: 10, 2: 1}


class SlowUsers:
    """A users API that answers only once the cart has been read: a draft that waited for
    the user before reading the cart would never finish."""

    def __init__(self, shop: FakeShop) -> None:
        self.cart_read = anyio.Event()
        self._shop = shop

    async def get(self, user_id: int) -> Customer | None:
        await self.cart_read.wait()
        return await self._shop.get(user_id)

    async def lines(self, user_id: int) -> Sequence[CartLine]:
        self.cart_read.set()
        return await self._shop.lines(user_id)


async def test_the_user_and_the_cart_are_asked_for_at_once(shop: FakeShop) -> None:
    users = SlowUsers(shop)
    checkout = Checkout(users, users, shop, shop, shop)
    with anyio.fail_after(2):
        order = await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert order.price.total_cents == 5303


async def test_an_unknown_user_is_the_answer_even_while_the_catalog_is_down(
    shop: FakeShop,
) -> None:
    class CatalogDown(FakeShop):
        async def products(self, ids: Sequence[int]) -> dict[int, Product]:
            raise Unavailable("the catalog did not answer")

    down = CatalogDown(carts=shop.carts)
    with pytest.raises(UserNotFound):  # legacy checks the user first
        await Checkout(down, down, down, down, down)(PlaceOrder(99, "tok_visa"), key="k")
    with pytest.raises(DependencyDown):
        await Checkout(down, down, down, down, down)(PlaceOrder(ADA.id, "tok_visa"), key="k")


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Declined(), PaymentDeclined),
        (CardUnknown(), CardInvalid),
        (KeyReused(), CheckoutKeyReused),
        (Unavailable(), PaymentFailed),
        (Voided(), CheckoutAbandoned),  # a retry that came after payments gave up
    ],
)
async def test_a_failed_payment_gives_the_stock_back(
    checkout: Checkout, shop: FakeShop, failure: Exception, error: type[Exception]
) -> None:
    shop.payments_say = failure
    with pytest.raises(error):
        await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert shop.stock == {1: 10, 2: 1} and shop.held == {} and shop.placed == []


async def test_an_order_that_cannot_be_committed_after_the_charge_is_refunded_and_released(
    checkout: Checkout, shop: FakeShop
) -> None:
    shop.book_fails = True
    with pytest.raises(RuntimeError):
        await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert shop.refunded == [f"pay_{order_uuid_for('k').hex[:6]}"]
    assert shop.stock == {1: 10, 2: 1} and shop.placed == []


async def test_a_retry_of_a_placed_checkout_answers_its_order_and_holds_nothing_more(
    checkout: Checkout, shop: FakeShop
) -> None:
    """The first try placed the order and its answer was lost: the retry (same key) finds
    it, and gives back the stock it held for itself, without a refund."""
    first = await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    shop.carts[ADA.id] = [CartLine(1, 2), CartLine(2, 1)]
    shop.stock = {1: 10, 2: 1}
    again = await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert again == first and len(shop.placed) == 1 and shop.refunded == []
    assert shop.stock == {1: 10, 2: 1}


async def test_a_checkout_whose_payment_was_given_back_can_never_be_placed(
    checkout: Checkout, shop: FakeShop
) -> None:
    shop.abandoned.add(order_uuid_for("k"))  # the settler of charges with no order decided
    with pytest.raises(CheckoutAbandoned):
        await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert shop.placed == [] and shop.stock == {1: 10, 2: 1}


async def test_a_dry_run_checks_everything_and_keeps_nothing(
    checkout: Checkout, shop: FakeShop
) -> None:
    preview = await checkout(PlaceOrder(ADA.id, "tok_visa", "save10"), key="k", dry_run=True)
    assert preview.price.discount_code == "SAVE10" and preview.charge_id is None
    assert shop.stock == {1: 10, 2: 1} and shop.charges == {} and shop.placed == []
    shop.stock[2] = 0
    with pytest.raises(OutOfStock):  # a dry run finds what the real one would
        await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k", dry_run=True)


async def test_a_line_whose_product_was_deleted_has_left_the_cart(
    checkout: Checkout, shop: FakeShop
) -> None:
    shop.catalog.pop(2)  # legacy deletes a product's cart lines with it
    order = await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k")
    assert [line.product_id for line in order.lines] == [1]
    shop.carts[ADA.id] = [CartLine(2, 1)]
    with pytest.raises(CartEmpty):
        await checkout(PlaceOrder(ADA.id, "tok_visa"), key="k2")


async def test_stock_is_checked_line_by_line_before_the_discount_code_as_legacy_does(
    checkout: Checkout, shop: FakeShop
) -> None:
    shop.stock[1] = 1
    with pytest.raises(OutOfStock):
        await checkout(PlaceOrder(ADA.id, "tok_visa", "NOPE"), key="k")
    assert shop.held == {} and shop.charges == {}
