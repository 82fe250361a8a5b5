"""The database's count of product writes (migrations 0005g): what a cached product was read under.

Triggers bump `product_generation` in the writer's transaction whenever a product's sku,
name or price changes or a product is deleted, whoever wrote it: the catalog, or legacy
while it still serves product writes (its code never tells the catalog). A cache entry
stamped with the count it was read under is served only while the count has not moved,
so a price legacy changes is seen by the catalog's next read, on every instance.
"""

from __future__ import annotations

from typing import Protocol

import anyio.to_thread
from sqlalchemy import Engine, select

from new_services.catalog.tables import product_generation
from new_services.platform.database import single_statement_reads


class ProductGeneration(Protocol):
    async def read(self) -> int | None:
        """The count now (None: nothing counts, every stamp matches)."""
        ...


class SqlProductGeneration:
    """One primary-key read of the one-row table, off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._reads = single_statement_reads(engine)

    def _read(self) -> int | None:
        query = select(product_generation.c.generation).where(product_generation.c.id == 1)
        with self._reads.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else int(found)

    async def read(self) -> int | None:
        return await anyio.to_thread.run_sync(self._read)


class FixedGeneration:
    """No count to follow (unit tests, or a shop where only the catalog writes products)."""

    def __init__(self, generation: int | None = None) -> None:
        self.generation = generation

    async def read(self) -> int | None:
        return self.generation
