"""Where the live route table is kept: versioned documents with an append-only audit log.

Two implementations of one small port: Redis (shared by every gateway instance) and
in-memory (a single gateway without Redis, and unit tests).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from redis.asyncio import Redis

Document = dict[str, Any]


class RouteStore(Protocol):
    async def version(self) -> int:
        """The current table version; 0 when nothing was ever stored."""
        ...

    async def table(self) -> Document | None: ...

    async def at(self, version: int) -> Document | None:
        """The table as it was at `version` (for rollback)."""
        ...

    async def commit(self, expected: int, table: Document, audit: Document) -> bool:
        """Store `table` as version expected+1 with its audit entry, only if the current
        version is still `expected` (compare-and-set); False when someone else won."""
        ...

    async def audit(self, limit: int) -> list[Document]:
        """The newest `limit` audit entries, oldest first."""
        ...

    async def restore(self, table: Document, audit: Document) -> bool:
        """Store `table` under its own version with its audit entry, only if the current
        version is older (a store that lost writes); False when it is not."""
        ...


_COMMIT = """
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
return 1
"""

_RESTORE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[4]), -1)
return 1
"""


class RedisRouteStore:
    """Keys under one namespace; a Lua script makes each change atomic."""

    def __init__(self, redis: Redis, namespace: str = "strangler:gateway", audit_cap: int = 10_000):
        self._redis = redis
        self._keys = [f"{namespace}:{k}" for k in ("version", "table", "history", "audit")]
        self._audit_cap = audit_cap
        self._commit = redis.register_script(_COMMIT)
        self._restore = redis.register_script(_RESTORE)

    async def version(self) -> int:
        raw = await self._redis.get(self._keys[0])
        return int(raw) if raw else 0

    async def table(self) -> Document | None:
        raw = await self._redis.get(self._keys[1])
        return json.loads(raw) if raw else None

    async def at(self, version: int) -> Document | None:
        raw = await self._redis.hget(self._keys[2], str(version))
        return json.loads(raw) if raw else None

    async def commit(self, expected: int, table: Document, audit: Document) -> bool:
        done = await self._commit(
            keys=self._keys,
            args=[
                str(expected),
                str(expected + 1),
                json.dumps(table),
                json.dumps(audit),
                self._audit_cap,
            ],
        )
        return bool(done)

    async def audit(self, limit: int) -> list[Document]:
        raw = await self._redis.lrange(self._keys[3], -limit, -1)
        return [json.loads(entry) for entry in raw]

    async def restore(self, table: Document, audit: Document) -> bool:
        done = await self._restore(
            keys=self._keys,
            args=[str(table["version"]), json.dumps(table), json.dumps(audit), self._audit_cap],
        )
        return bool(done)


class InMemoryRouteStore:
    def __init__(self) -> None:
        self._history: dict[int, Document] = {}
        self._audit: list[Document] = []
        self._version = 0

    async def version(self) -> int:
        return self._version

    async def table(self) -> Document | None:
        return json.loads(json.dumps(self._history[self._version])) if self._version else None

    async def at(self, version: int) -> Document | None:
        found = self._history.get(version)
        return json.loads(json.dumps(found)) if found else None

    async def commit(self, expected: int, table: Document, audit: Document) -> bool:
        if expected != self._version:
            return False
        self._version += 1
        self._history[self._version] = json.loads(json.dumps(table))
        self._audit.append(audit)
        return True

    async def audit(self, limit: int) -> list[Document]:
        return self._audit[-limit:]

    async def restore(self, table: Document, audit: Document) -> bool:
        version = int(table["version"])
        if version <= self._version:
            return False
        self._version = version
        self._history[version] = json.loads(json.dumps(table))
        self._audit.append(audit)
        return True
