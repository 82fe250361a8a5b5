"""The catalog's use cases with an in-memory repository, fake stock and a fake Redis: every
write is read back at once, dry runs keep nothing, holds answer in the API's terms."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry

from new_services.catalog.cache import CacheMetrics, ProductCache
from new_services.catalog.errors import (
    HoldMismatch,
    HoldNotFound,
    HoldReleased,
    OutOfStock,
    ProductNotFound,
    SkuTaken,
)
from new_services.catalog.model import HoldState, Line, NewProduct, ProductChange
from new_services.catalog.repository import InMemoryProductRepository
from new_services.catalog.service import CatalogService, restock_id_for
from tests.unit.catalog.fakes import FakeStock, FakeStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def repository() -> InMemoryProductRepository:
    return InMemoryProductRepository()


@pytest.fixture
def stock() -> FakeStock:
    return FakeStock()


@pytest.fixture
def service(repository: InMemoryProductRepository, stock: FakeStock) -> CatalogService:
    cache = ProductCache(FakeStore(), "test", 30, CacheMetrics(CollectorRegistry()))
    return CatalogService(repository, stock, cache)


def teapot(sku: str = "TEA-1", stock: int = 5) -> NewProduct:
    return NewProduct(sku, "Teapot", 1_999, stock)


async def test_a_change_is_read_back_at_once_though_the_product_was_cached(
    service: CatalogService,
) -> None:
    made = await service.create(teapot())
    assert (await service.product(made.id)).price_cents == 1_999  # cached now
    await service.change(made.id, ProductChange.of({"price_cents": 5}))
    assert (await service.product(made.id)).price_cents == 5
    assert (await service.product_by_uuid(made.uuid)).price_cents == 5


async def test_a_dry_run_answers_like_the_write_and_changes_nothing(
    service: CatalogService, repository: InMemoryProductRepository
) -> None:
    made = await service.create(teapot())
    assert (await service.create(teapot("TEA-2"), dry_run=True)).sku == "TEA-2"
    changed = await service.change(made.id, ProductChange.of({"stock": 0}), dry_run=True)
    assert changed.stock == 0
    await service.delete(made.id, dry_run=True)
    assert list(repository.products.values()) == [made]
    assert (await service.product(made.id)) == made


async def test_a_deleted_product_is_not_found_and_its_sku_stays_taken(
    service: CatalogService,
) -> None:
    made = await service.create(teapot())
    await service.product(made.id)
    await service.delete(made.id)
    with pytest.raises(ProductNotFound):
        await service.product(made.id)
    with pytest.raises(ProductNotFound):
        await service.product_by_uuid(made.uuid)
    with pytest.raises(ProductNotFound):
        await service.delete(made.id)
    with pytest.raises(SkuTaken):
        await service.create(teapot())


async def test_a_hold_is_made_once_and_the_same_hold_with_other_lines_is_refused(
    service: CatalogService, stock: FakeStock
) -> None:
    stock.stock[1] = 3
    hold_id = uuid.uuid4()
    hold, made = await service.hold(hold_id, [Line(1, 2)])
    assert (hold.state, made) == (HoldState.HELD, True)
    again, made = await service.hold(hold_id, [Line(1, 2)])
    assert (again, made) == (hold, False)
    with pytest.raises(HoldMismatch):
        await service.hold(hold_id, [Line(1, 1)])
    with pytest.raises(OutOfStock) as short:
        await service.hold(uuid.uuid4(), [Line(1, 2)])
    assert short.value.extensions == {"product_id": 1}


async def test_a_released_hold_stays_released_and_cannot_be_committed(
    service: CatalogService, stock: FakeStock
) -> None:
    stock.stock[1] = 3
    hold_id = uuid.uuid4()
    await service.hold(hold_id, [Line(1, 2)])
    assert (await service.release(hold_id, dry_run=True)).state is HoldState.RELEASED
    assert stock.stock[1] == 1  # the dry run put nothing back
    assert (await service.release(hold_id)).state is HoldState.RELEASED
    assert stock.stock[1] == 3
    with pytest.raises(HoldReleased):
        await service.commit(hold_id)
    with pytest.raises(HoldNotFound):
        await service.release(uuid.uuid4())


async def test_a_restock_is_named_by_its_key(service: CatalogService, stock: FakeStock) -> None:
    stock.stock[1] = 0
    restock_id, done = await service.restock("cancel-7", [Line(1, 2), Line(9, 1)])
    assert (restock_id, done) == (restock_id_for("cancel-7"), (Line(1, 2),))
    assert (await service.restock("cancel-7", [Line(1, 2)]))[1] == (Line(1, 2),)
    assert stock.stock[1] == 2
