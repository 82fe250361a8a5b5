"""Shadow outcomes: counters per route and a capped, expiring store of mismatch samples.

Counters live in the shared store so every gateway instance adds to one figure.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from typing import Any, Protocol

from redis.asyncio import Redis

OUTCOMES = ("match", "mismatch", "candidate_error", "dropped", "noise_match", "noise_mismatch")


class ParityStore(Protocol):
    async def count(
        self, route: str, outcome: str, paths: list[str] | None = None, n: int = 1
    ) -> None:
        """Add `n` of an outcome; `paths` are the differing paths of a noise mismatch."""
        ...

    async def sample(self, route: str, sample: dict[str, Any]) -> None: ...

    async def figures(self) -> dict[str, dict[str, Any]]: ...

    async def samples(self, route: str, limit: int) -> list[dict[str, Any]]: ...


def summarise(counts: dict[str, int], noise_paths: dict[str, int]) -> dict[str, Any]:
    """Parity and noise rates beside the raw counts."""
    compared = counts.get("match", 0) + counts.get("mismatch", 0)
    noise = counts.get("noise_match", 0) + counts.get("noise_mismatch", 0)
    return {
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "parity": round(counts.get("match", 0) / compared, 4) if compared else None,
        "noise_rate": round(counts.get("noise_mismatch", 0) / noise, 4) if noise else None,
        "noise_paths": dict(Counter(noise_paths).most_common(20)),
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisParityStore:
    def __init__(self, redis: Redis, namespace: str, cap: int = 100, ttl_s: int = 86_400) -> None:
        self._redis = redis
        self._ns = namespace
        self._cap = cap
        self._ttl_s = ttl_s

    async def count(
        self, route: str, outcome: str, paths: list[str] | None = None, n: int = 1
    ) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(f"{self._ns}:parity:{route}", outcome, n)
        pipe.sadd(f"{self._ns}:parity-routes", route)
        for path in paths or []:
            pipe.hincrby(f"{self._ns}:noise:{route}", path, 1)
        await pipe.execute()

    async def sample(self, route: str, sample: dict[str, Any]) -> None:
        key = f"{self._ns}:mismatches:{route}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.lpush(key, json.dumps(sample))
        pipe.ltrim(key, 0, self._cap - 1)
        pipe.expire(key, self._ttl_s)
        await pipe.execute()

    async def figures(self) -> dict[str, dict[str, Any]]:
        members: set[Any] = await self._redis.smembers(f"{self._ns}:parity-routes")
        result = {}
        for route in sorted(_text(m) for m in members):
            raw: dict[Any, Any] = await self._redis.hgetall(f"{self._ns}:parity:{route}")
            noise: dict[Any, Any] = await self._redis.hgetall(f"{self._ns}:noise:{route}")
            result[route] = summarise(
                {_text(k): int(v) for k, v in raw.items()},
                {_text(k): int(v) for k, v in noise.items()},
            )
        return result

    async def samples(self, route: str, limit: int) -> list[dict[str, Any]]:
        raw: list[Any] = await self._redis.lrange(f"{self._ns}:mismatches:{route}", 0, limit - 1)
        return [json.loads(item) for item in raw]


class InMemoryParityStore:
    def __init__(self, cap: int = 100, ttl_s: float = 86_400) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._noise: dict[str, Counter[str]] = {}
        self._samples: dict[str, deque[tuple[float, dict[str, Any]]]] = {}
        self._cap = cap
        self._ttl_s = ttl_s

    async def count(
        self, route: str, outcome: str, paths: list[str] | None = None, n: int = 1
    ) -> None:
        self._counts.setdefault(route, Counter())[outcome] += n
        self._noise.setdefault(route, Counter()).update(paths or [])

    async def sample(self, route: str, sample: dict[str, Any]) -> None:
        self._samples.setdefault(route, deque(maxlen=self._cap)).appendleft(
            (time.monotonic(), sample)
        )

    async def figures(self) -> dict[str, dict[str, Any]]:
        return {
            route: summarise(dict(counts), dict(self._noise.get(route, Counter())))
            for route, counts in sorted(self._counts.items())
        }

    async def samples(self, route: str, limit: int) -> list[dict[str, Any]]:
        fresh = time.monotonic() - self._ttl_s
        return [s for at, s in self._samples.get(route, deque()) if at >= fresh][:limit]
