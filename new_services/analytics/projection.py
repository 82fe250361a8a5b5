"""Where the sales aggregates are kept: the port, its Redis projection and an in-memory one.

Both apply a change at most once per key (`service.record` keys it by the order and the
topic: an order is placed once and cancelled once), all of it or none of it, and keep each
product's name from its latest order by order time, whatever order the events come in.
(Legacy shows the name off whichever order its scan meets first, which its unordered
query leaves undefined when a product was renamed; without a rename both agree.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Protocol, cast

from redis import Redis

from new_services.analytics.model import Figures, ProductFigures, Sale

SEEN_FOR_S = 90 * 24 * 3600  # far longer than any redelivery: relay retries, requeues
READ_BATCH = 100  # days per MULTI/EXEC when reading a range


class SalesProjection(Protocol):
    def apply(self, key: str, sale: Sale) -> bool:
        """Add `sale` to its day; False, and nothing changed, if `key` was applied."""
        ...

    def days(self, first: date, last: date) -> dict[date, Figures]:
        """The figures of each day from `first` to `last` (both included) that has any."""
        ...

    def names(self, product_ids: Sequence[int]) -> dict[int, str]: ...

    def clear(self) -> int:
        """Forget everything, markers included (before a rebuild); the keys dropped."""
        ...


def _stamp(moment: datetime) -> str:
    """UTC to the second, fixed width: comparing two stamps as text compares the times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class InMemorySalesProjection:
    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._days: dict[date, Figures] = {}
        self._names: dict[int, tuple[str, str]] = {}  # product id -> (stamp, name)

    def apply(self, key: str, sale: Sale) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        self._days[sale.day] = Figures.total([self._days.get(sale.day, Figures()), sale.figures()])
        stamp = _stamp(sale.ordered_at)
        for product in sale.products:
            named_at, _ = self._names.get(product.product_id, ("", ""))
            if named_at <= stamp:
                self._names[product.product_id] = (stamp, product.name)
        return True

    def days(self, first: date, last: date) -> dict[date, Figures]:
        return {day: figures for day, figures in self._days.items() if first <= day <= last}

    def names(self, product_ids: Sequence[int]) -> dict[int, str]:
        return {pid: self._names[pid][1] for pid in product_ids if pid in self._names}

    def clear(self) -> int:
        dropped = len(self._seen) + len(self._days) + len(self._names)
        self._seen, self._days, self._names = set(), {}, {}
        return dropped


# KEYS: seen marker, days (sorted set), the day's totals, the day's products, names.
# ARGV: seen TTL, day, day ordinal, orders, revenue, units, order time stamp, then four
# per product: id, units, revenue, name.
_APPLY = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'order_count', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'revenue_cents', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'units_sold', ARGV[6])
for i = 8, #ARGV, 4 do
  local id = ARGV[i]
  redis.call('HINCRBY', KEYS[4], 'units:' .. id, ARGV[i + 1])
  redis.call('HINCRBY', KEYS[4], 'revenue:' .. id, ARGV[i + 2])
  local named_at = redis.call('HGET', KEYS[5], 'named_at:' .. id)
  if not named_at or named_at <= ARGV[7] then
    redis.call('HSET', KEYS[5], 'name:' .. id, ARGV[i + 3], 'named_at:' .. id, ARGV[7])
  end
end
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisSalesProjection:
    """Keys under `{namespace}:analytics:` (listed in the package's docstring)."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:analytics:"
        self._apply = redis.register_script(_APPLY)

    def _day(self, day: date) -> str:
        return f"{self._prefix}day:{day.isoformat()}"

    def apply(self, key: str, sale: Sale) -> bool:
        keys = [
            f"{self._prefix}seen:{key}",
            f"{self._prefix}days",
            self._day(sale.day),
            f"{self._day(sale.day)}:products",
            f"{self._prefix}products",
        ]
        args: list[str | int] = [
            SEEN_FOR_S,
            sale.day.isoformat(),
            sale.day.toordinal(),
            sale.order_count,
            sale.revenue_cents,
            sale.units_sold,
            _stamp(sale.ordered_at),
        ]
        for p in sale.products:
            args += [p.product_id, p.units, p.revenue_cents, p.name]
        return bool(self._apply(keys=keys, args=args))

    def days(self, first: date, last: date) -> dict[date, Figures]:
        # Only days that hold data are read: a range of years costs what its sales cost.
        listed = cast(
            "list[bytes | str]",
            self._redis.zrangebyscore(f"{self._prefix}days", first.toordinal(), last.toordinal()),
        )
        days = [date.fromisoformat(_text(member)) for member in listed]
        found: dict[date, Figures] = {}
        for start in range(0, len(days), READ_BATCH):
            batch = days[start : start + READ_BATCH]
            # MULTI/EXEC: a day's totals and its products come from between two events
            pipe = self._redis.pipeline(transaction=True)
            for day in batch:
                pipe.hgetall(self._day(day))
                pipe.hgetall(f"{self._day(day)}:products")
            replies = pipe.execute()
            for i, day in enumerate(batch):
                found[day] = _figures(replies[2 * i], replies[2 * i + 1])
        return found

    def names(self, product_ids: Sequence[int]) -> dict[int, str]:
        if not product_ids:
            return {}
        fields = [f"name:{pid}" for pid in product_ids]
        values = self._redis.hmget(f"{self._prefix}products", fields)
        found = zip(product_ids, values, strict=True)
        return {pid: _text(value) for pid, value in found if value is not None}

    def clear(self) -> int:
        dropped = 0
        for batch in _batches(self._redis.scan_iter(match=f"{self._prefix}*", count=1000)):
            dropped += int(self._redis.unlink(*batch))
        return dropped


def _batches(keys: Iterable[bytes | str], size: int = 1000) -> Iterator[list[bytes | str]]:
    batch: list[bytes | str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


Hash = dict[bytes | str, bytes | str]


def _figures(totals: Hash, products: Hash) -> Figures:
    counts = {_text(key): int(value) for key, value in totals.items()}
    sold: dict[int, ProductFigures] = {}
    for key, value in products.items():
        kind, _, pid = _text(key).partition(":")
        before = sold.get(int(pid), ProductFigures())
        if kind == "units":
            sold[int(pid)] = ProductFigures(int(value), before.revenue_cents)
        else:
            sold[int(pid)] = ProductFigures(before.units, int(value))
    return Figures(
        counts.get("order_count", 0),
        counts.get("revenue_cents", 0),
        counts.get("units_sold", 0),
        sold,
    )
