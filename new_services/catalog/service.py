"""The catalog's use cases: read products through the cache, write them, hold and restock
stock, and drop from the cache every product a write changed, once it has committed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import ParamSpec, Protocol, TypeVar

import anyio.to_thread

from new_services.catalog import inventory
from new_services.catalog.cache import ProductCache
from new_services.catalog.errors import (
    HoldMismatch,
    HoldNotFound,
    OutOfStock,
    ProductNotFound,
    ProductUnavailable,
    StockBusy,
)
from new_services.catalog.inventory import NotEnoughStock
from new_services.catalog.inventory import ProductUnavailable as ProductGone
from new_services.catalog.model import Hold, HoldState, Line, NewProduct, Product, ProductChange
from new_services.catalog.repository import ProductRepository

P = ParamSpec("P")
T = TypeVar("T")
_RESTOCKS = uuid.UUID("0c7d4e55-8f0a-4c36-9d0e-2b7f4a1e6c93")


class Stock(Protocol):
    """What the service needs of inventory.py's Inventory."""

    def reserve(self, hold: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False) -> bool:
        """Raises NotEnoughStock (ProductUnavailable for a deleted or unknown product)."""
        ...

    def find(self, hold: uuid.UUID) -> Hold | None: ...

    def release(self, hold: uuid.UUID) -> int: ...

    def commit(self, hold: uuid.UUID) -> None: ...

    def restock(
        self, restock: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False
    ) -> tuple[Line, ...]: ...

    def expire(self) -> list[Line]: ...


def restock_id_for(idempotency_key: str) -> uuid.UUID:
    """A restock's id comes from its key: the key names that restock for good."""
    return uuid.uuid5(_RESTOCKS, f"restock:{idempotency_key}")


class CatalogService:
    def __init__(self, products: ProductRepository, stock: Stock, cache: ProductCache) -> None:
        self._products = products
        self._stock = stock
        self._cache = cache

    async def _db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Repositories block; run them on a worker thread, off the event loop."""
        try:
            return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))
        except inventory.StockBusy as exc:
            raise StockBusy(str(exc)) from exc

    async def _load(self, ids: list[int]) -> dict[int, Product]:
        return await self._db(self._products.get_many, ids)

    # ------------------------------------------------------------ reads

    async def products(self, ids: Sequence[int], fresh: bool = False) -> dict[int, Product]:
        """The live products among `ids`, through the cache (`fresh`: read anew)."""
        return await self._cache.products(ids, self._load, fresh)

    async def product(self, product_id: int, fresh: bool = False) -> Product:
        found = (await self.products([product_id], fresh)).get(product_id)
        if found is None:
            raise ProductNotFound(f"no product {product_id}")
        return found

    async def product_by_uuid(self, product_uuid: uuid.UUID, fresh: bool = False) -> Product:
        product_id = await self._cache.product_id(
            product_uuid, lambda: self._db(self._products.id_of, product_uuid)
        )
        found = None
        if product_id is not None:
            found = (await self.products([product_id], fresh)).get(product_id)
        if found is None or found.uuid != product_uuid:
            raise ProductNotFound(f"no product {product_uuid}")
        return found

    async def every(self) -> list[Product]:
        return await self._db(self._products.every)

    async def page(self, after: int, limit: int, sku: str | None) -> list[Product]:
        return await self._db(self._products.page, after, limit, sku)

    # ------------------------------------------------------------ product writes

    async def create(self, new: NewProduct, *, dry_run: bool = False) -> Product:
        product = await self._db(self._products.create, new, dry_run=dry_run)
        if not dry_run:  # the id may be one a hard-deleted legacy product had (SQLite)
            await self._cache.forget([product.id])
        return product

    async def change(
        self, product_id: int, change: ProductChange, *, dry_run: bool = False
    ) -> Product:
        product = await self._db(self._products.change, product_id, change, dry_run=dry_run)
        if product is None:
            raise ProductNotFound(f"no product {product_id}")
        if not dry_run:
            await self._cache.forget([product_id])
        return product

    async def delete(self, product_id: int, *, dry_run: bool = False) -> None:
        if not await self._db(self._products.delete, product_id, dry_run=dry_run):
            raise ProductNotFound(f"no product {product_id}")
        if not dry_run:
            await self._cache.forget([product_id])

    # ------------------------------------------------------------ stock

    async def hold(
        self, hold_id: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False
    ) -> tuple[Hold, bool]:
        """The hold, and whether it was made now (False: it existed, nothing more held)."""
        try:
            made = await self._db(self._stock.reserve, hold_id, lines, dry_run=dry_run)
        except ProductGone as exc:
            raise ProductUnavailable(
                f"product {exc.product_id} is no longer sold", product_id=exc.product_id
            ) from exc
        except NotEnoughStock as exc:
            raise OutOfStock(
                f"not enough stock of product {exc.product_id}", product_id=exc.product_id
            ) from exc
        ordered = tuple(sorted(lines, key=lambda line: line.product_id))
        if made:
            if not dry_run:
                await self._cache.forget(line.product_id for line in lines)
            return Hold(hold_id, HoldState.HELD, ordered), True
        hold = await self.find_hold(hold_id)
        if hold.lines != ordered:
            raise HoldMismatch(f"hold {hold_id} exists with other lines", hold=hold.as_json())
        return hold, False

    async def find_hold(self, hold_id: uuid.UUID) -> Hold:
        hold = await self._db(self._stock.find, hold_id)
        if hold is None:
            raise HoldNotFound(f"no hold {hold_id}")
        return hold

    async def release(self, hold_id: uuid.UUID, *, dry_run: bool = False) -> Hold:
        """Put a held hold's units back; a committed or released one stays as it is."""
        hold = await self.find_hold(hold_id)
        if dry_run:
            return hold.released()
        if await self._db(self._stock.release, hold_id):
            await self._cache.forget(line.product_id for line in hold.lines)
        return await self.find_hold(hold_id)

    async def commit(self, hold_id: uuid.UUID, *, dry_run: bool = False) -> Hold:
        """The order is placed: the units stay sold. Raises HoldReleased when too late."""
        hold = await self.find_hold(hold_id)
        if dry_run:
            return hold.committed()
        await self._db(self._stock.commit, hold_id)
        return (await self.find_hold(hold_id)).committed()

    async def restock(
        self, key: str, lines: Sequence[Line], *, dry_run: bool = False
    ) -> tuple[uuid.UUID, tuple[Line, ...]]:
        """Put units back once per key; the restock's id and the lines that went back."""
        restock_id = restock_id_for(key)
        done = await self._db(self._stock.restock, restock_id, lines, dry_run=dry_run)
        if not dry_run:
            await self._cache.forget(line.product_id for line in done)
        return restock_id, done

    async def expire_holds(self) -> int:
        """Release the holds whose checkout never finished; how many lines went back."""
        lines = await self._db(self._stock.expire)
        await self._cache.forget(line.product_id for line in lines)
        return len(lines)
