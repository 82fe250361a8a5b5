"""Where products are kept: a port, its SQL implementation and an in-memory one for tests.

A deleted product keeps its row (`deleted_at` is set) and is invisible to every read
here; its sku stays taken, because the unique constraint is the legacy one. Rows made
before the UUID expand step that the backfill has not reached yet get their UUID on
first read, with the backfill's own condition (`WHERE uuid IS NULL`), so the two never
disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from new_services.catalog.errors import SkuTaken
from new_services.catalog.model import NewProduct, Product, ProductChange
from new_services.catalog.tables import legacy_now, products
from new_services.platform.database import single_statement_reads

_LIVE = products.c.deleted_at.is_(None)


class ProductRepository(Protocol):
    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        """The live products among `ids` (deleted and unknown ones are absent)."""
        ...

    def id_of(self, product_uuid: uuid.UUID) -> int | None: ...

    def every(self) -> list[Product]:
        """Every live product, by id (v1's unpaged list, as legacy has it)."""
        ...

    def page(self, after: int, limit: int, sku: str | None = None) -> list[Product]:
        """Up to `limit` live products with an id above `after`, by id."""
        ...

    def create(self, new: NewProduct, *, dry_run: bool = False) -> Product:
        """Raises SkuTaken."""
        ...

    def change(
        self, product_id: int, change: ProductChange, *, dry_run: bool = False
    ) -> Product | None: ...

    def delete(self, product_id: int, *, dry_run: bool = False) -> bool:
        """Soft-delete a live product; False when there was none."""
        ...


def _product(row: Any) -> Product:
    return Product(
        id=row.id,
        uuid=row.uuid,
        sku=row.sku,
        name=row.name,
        price_cents=row.price_cents,
        stock=row.stock,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlProductRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)

    def _read(self, *conditions: Any, limit: int | None = None) -> list[Product]:
        query = select(products).where(_LIVE, *conditions).order_by(products.c.id).limit(limit)
        with self._reads.connect() as conn:
            rows = conn.execute(query).all()
        unminted = [row.id for row in rows if row.uuid is None]
        if unminted:
            with self._engine.begin() as conn:
                self._mint(conn, unminted)
            with self._reads.connect() as conn:
                rows = conn.execute(query).all()
        return [_product(row) for row in rows]

    @staticmethod
    def _mint(conn: Connection, ids: Iterable[int]) -> None:
        for product_id in ids:
            conn.execute(
                update(products)
                .where(products.c.id == product_id, products.c.uuid.is_(None))
                .values(uuid=uuid.uuid4())
            )

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        if not ids:
            return {}
        return {p.id: p for p in self._read(products.c.id.in_(sorted(set(ids))))}

    def id_of(self, product_uuid: uuid.UUID) -> int | None:
        with self._reads.connect() as conn:
            found = conn.execute(
                select(products.c.id).where(products.c.uuid == product_uuid, _LIVE)
            ).scalar()
        return None if found is None else int(found)

    def every(self) -> list[Product]:
        return self._read()

    def page(self, after: int, limit: int, sku: str | None = None) -> list[Product]:
        conditions = [products.c.id > after]
        if sku is not None:
            conditions.append(products.c.sku == sku)
        return self._read(*conditions, limit=limit)

    def create(self, new: NewProduct, *, dry_run: bool = False) -> Product:
        now = legacy_now()
        if dry_run:
            return self._would_create(new, now)
        try:
            with self._engine.begin() as conn:
                product_id = conn.execute(
                    insert(products)
                    .values(
                        sku=new.sku,
                        name=new.name,
                        price_cents=new.price_cents,
                        stock=new.stock,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(products.c.id)
                ).scalar_one()
                row = conn.execute(select(products).where(products.c.id == product_id)).one()
                if row.uuid is None:  # a database the expand step has not reached
                    self._mint(conn, [product_id])
                    row = conn.execute(select(products).where(products.c.id == product_id)).one()
                return _product(row)
        except IntegrityError as exc:
            raise SkuTaken("a product with this sku already exists") from exc

    def _would_create(self, new: NewProduct, now: datetime) -> Product:
        """What `create` would answer, from a read: its id and uuid are placeholders (a
        product that is not made has neither)."""
        with self._reads.connect() as conn:
            taken = conn.execute(select(products.c.id).where(products.c.sku == new.sku)).first()
        if taken is not None:
            raise SkuTaken("a product with this sku already exists")
        return Product(0, uuid.UUID(int=0), new.sku, new.name, new.price_cents, new.stock, now, now)

    def change(
        self, product_id: int, change: ProductChange, *, dry_run: bool = False
    ) -> Product | None:
        if dry_run:
            live = self.get_many([product_id]).get(product_id)
            return None if live is None else change.applied_to(live, legacy_now())
        with self._engine.begin() as conn:
            found = conn.execute(
                update(products)
                .where(products.c.id == product_id, _LIVE)
                .values(**dict(change.values), updated_at=legacy_now())
            ).rowcount
            if not found:
                return None
            row = conn.execute(select(products).where(products.c.id == product_id)).one()
        return _product(row)

    def delete(self, product_id: int, *, dry_run: bool = False) -> bool:
        if dry_run:
            return product_id in self.get_many([product_id])
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    update(products)
                    .where(products.c.id == product_id, _LIVE)
                    .values(deleted_at=datetime.now(UTC), updated_at=legacy_now())
                ).rowcount
            )


class InMemoryProductRepository:
    def __init__(self) -> None:
        self.products: dict[int, Product] = {}
        self.deleted: dict[int, Product] = {}

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        return {i: self.products[i] for i in ids if i in self.products}

    def id_of(self, product_uuid: uuid.UUID) -> int | None:
        return next((p.id for p in self.products.values() if p.uuid == product_uuid), None)

    def every(self) -> list[Product]:
        return sorted(self.products.values(), key=lambda p: p.id)

    def page(self, after: int, limit: int, sku: str | None = None) -> list[Product]:
        found = [p for p in self.every() if p.id > after and sku in (None, p.sku)]
        return found[:limit]

    def create(self, new: NewProduct, *, dry_run: bool = False) -> Product:
        taken = {p.sku for p in (*self.products.values(), *self.deleted.values())}
        if new.sku in taken:
            raise SkuTaken("a product with this sku already exists")
        now = legacy_now()
        if dry_run:  # placeholders, as the SQL repository answers
            return Product(
                0, uuid.UUID(int=0), new.sku, new.name, new.price_cents, new.stock, now, now
            )
        product_id = max([0, *self.products, *self.deleted]) + 1
        product = Product(
            product_id, uuid.uuid4(), new.sku, new.name, new.price_cents, new.stock, now, now
        )
        self.products[product_id] = product
        return product

    def change(
        self, product_id: int, change: ProductChange, *, dry_run: bool = False
    ) -> Product | None:
        if product_id not in self.products:
            return None
        product = change.applied_to(self.products[product_id], legacy_now())
        if not dry_run:
            self.products[product_id] = product
        return product

    def delete(self, product_id: int, *, dry_run: bool = False) -> bool:
        if product_id not in self.products:
            return False
        if not dry_run:
            self.deleted[product_id] = replace(self.products.pop(product_id))
        return True
