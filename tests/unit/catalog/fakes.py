"""Fakes for the catalog's unit tests: a key-value store with Redis' semantics, and stock."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from redis.exceptions import ConnectionError as RedisConnectionError

from new_services.catalog.inventory import NotEnoughStock
from new_services.catalog.model import Hold, HoldState, Line


@dataclass
class FakeStore:
    """The few Redis commands ProductCache uses; `down` makes every call fail as Redis
    does when it is unreachable. TTLs are not simulated."""

    data: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    calls: int = 0

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")

    async def read(self, keys: Sequence[str]) -> list[bytes | None]:
        self._call()
        return [self.data.get(key) for key in keys]

    async def write(self, values: Mapping[str, bytes], ttl_s: float) -> None:
        self._call()
        self.data.update(values)

    async def bump(self, counters: Sequence[str], drop: Sequence[str], keep_s: float) -> None:
        self._call()
        for key in counters:
            self.data[key] = str(int(self.data.get(key, b"0")) + 1).encode()
        for key in drop:
            self.data.pop(key, None)


@dataclass
class FakeStock:
    """Holds kept in a dict; stock per product id, as the products table keeps it."""

    stock: dict[int, int] = field(default_factory=dict)
    holds: dict[uuid.UUID, Hold] = field(default_factory=dict)

    def reserve(self, hold: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False) -> bool:
        if hold in self.holds:
            return False
        for line in lines:
            if self.stock.get(line.product_id, 0) < line.quantity:
                raise NotEnoughStock(line.product_id)
        if not dry_run:
            for line in lines:
                self.stock[line.product_id] -= line.quantity
            self.holds[hold] = Hold(hold, HoldState.HELD, tuple(lines))
        return True

    def find(self, hold: uuid.UUID) -> Hold | None:
        return self.holds.get(hold)

    def release(self, hold: uuid.UUID) -> int:
        found = self.holds.get(hold)
        if found is None or found.state is not HoldState.HELD:
            return 0
        for line in found.lines:
            self.stock[line.product_id] += line.quantity
        self.holds[hold] = found.released()
        return len(found.lines)

    def commit(self, hold: uuid.UUID) -> None:
        found = self.holds.get(hold)
        if found is not None and found.state is HoldState.HELD:
            self.holds[hold] = found.committed()

    def restock(
        self, restock: uuid.UUID, lines: Sequence[Line], *, dry_run: bool = False
    ) -> tuple[Line, ...]:
        if restock in self.holds:
            return self.holds[restock].lines
        done = tuple(line for line in lines if line.product_id in self.stock)
        if not dry_run:
            for line in done:
                self.stock[line.product_id] += line.quantity
            self.holds[restock] = Hold(restock, HoldState.RELEASED, done)
        return done

    def expire(self) -> list[Line]:
        return []
