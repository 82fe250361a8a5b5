"""Shadow outcomes: counters per route, in total since the route's parity was last reset,
per table version and per minute (for a recent window); the paths that legacy's answers
differ on when compared with themselves (noise); and a capped, expiring store of mismatch
samples.

Counters live in the shared store so every gateway instance adds to one figure. Parity is
matches over comparisons (match + mismatch); what could not be compared fairly is counted
beside it, never in it: the candidate failed (`candidate_error`), the mirror was not made
(`dropped`), a dry run answered only after the primary had gone (`late`), legacy's own
answer changed while the candidate read (`moved`), or the candidate answered from a read
model behind legacy's writes and, asked to read anew, matched (`stale`), or a dry run was
refused by a candidate that cannot prove it (`dry_run_refused`) or answered as a real write
(`not_dry_run`, its header lost on the way). `discounted` matches are those whose only
differences were on noise paths (a subset of `match`).

Every count is also kept per second for an hour (`{namespace}:parity:{route}:s:{second}`),
so a rollout gate reads parity over the last few seconds (gateway/signals.py).
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from redis.asyncio import Redis

OUTCOMES = (
    "match",
    "mismatch",
    "candidate_error",
    "dropped",
    "late",
    "moved",
    "stale",
    "discounted",
    "noise_match",
    "noise_mismatch",
    "dry_run_refused",
    "not_dry_run",
)
WINDOW_S = 300  # the recent window the figures show by default
KEEP_MINUTES_S = 3600  # per-minute counts are kept this long: the longest window asked for
KEEP_VERSIONS_S = 7 * 86_400
KEEP_SECONDS_S = 3600  # per-second counts: the longest window a rollout gate reads
# A path is noise once legacy differed from itself there in at least this many comparisons
# and at least this share of them: a one-off (the state moved between two reads) is not.
NOISE_AT_LEAST = 3
NOISE_SHARE = 0.05

Clock = Callable[[], float]


class ParityStore(Protocol):
    async def count(
        self,
        route: str,
        outcome: str,
        version: int,
        paths: Iterable[str] = (),
        n: int = 1,
    ) -> None:
        """Add `n` of an outcome seen at table `version`; `paths` are the differing paths
        of a noise mismatch, or the noise paths a discounted match differed on."""
        ...

    async def sample(self, route: str, sample: dict[str, Any]) -> None: ...

    async def figures(self, window_s: int = WINDOW_S) -> dict[str, dict[str, Any]]: ...

    async def samples(self, route: str, limit: int) -> list[dict[str, Any]]: ...

    async def noise(self, route: str) -> frozenset[str]:
        """The route's noise paths (see NOISE_AT_LEAST and NOISE_SHARE)."""
        ...

    async def reset(self, route: str) -> None:
        """Forget the route's counts, noise and samples."""
        ...


def second_key(namespace: str, route: str, second: int) -> str:
    """The hash of one route's outcomes counted in one epoch second (read by signals.py)."""
    return f"{namespace}:parity:{route}:s:{second}"


def rate(counts: Mapping[str, int]) -> float | None:
    compared = counts.get("match", 0) + counts.get("mismatch", 0)
    return round(counts.get("match", 0) / compared, 4) if compared else None


def noisy(counts: Mapping[str, int], noise_paths: Mapping[str, int]) -> frozenset[str]:
    compared = counts.get("noise_match", 0) + counts.get("noise_mismatch", 0)
    return frozenset(
        path
        for path, n in noise_paths.items()
        if n >= NOISE_AT_LEAST and n >= NOISE_SHARE * compared
    )


def summarise(
    counts: Mapping[str, int],
    noise_paths: Mapping[str, int],
    discounted_paths: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Parity and noise rates beside the raw counts."""
    noise = counts.get("noise_match", 0) + counts.get("noise_mismatch", 0)
    return {
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "parity": rate(counts),
        "noise_rate": round(counts.get("noise_mismatch", 0) / noise, 4) if noise else None,
        "noise_paths": dict(Counter(noise_paths).most_common(20)),
        "noise_discounted_paths": sorted(noisy(counts, noise_paths)),
        "discounted_paths": dict(Counter(discounted_paths or {}).most_common(20)),
    }


def _brief(counts: Mapping[str, int]) -> dict[str, Any]:
    return {
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES if counts.get(outcome)},
        "parity": rate(counts),
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {_text(k): int(v) for k, v in raw.items()}


def _added(counters: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counts in counters:
        total.update(counts)
    return total


class RedisParityStore:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        cap: int = 100,
        ttl_s: int = 86_400,
        clock: Clock = time.time,
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self._cap = cap
        self._ttl_s = ttl_s
        self._clock = clock

    def _key(self, kind: str, route: str, *more: object) -> str:
        return ":".join([self._ns, kind, route, *(str(m) for m in more)])

    def _minutes(self, route: str, window_s: int) -> list[str]:
        now = int(self._clock() // 60)
        return [self._key("parity", route, "m", m) for m in range(now - window_s // 60, now + 1)]

    async def count(
        self,
        route: str,
        outcome: str,
        version: int,
        paths: Iterable[str] = (),
        n: int = 1,
    ) -> None:
        now = self._clock()
        minute = self._key("parity", route, "m", int(now // 60))
        second = second_key(self._ns, route, int(now))
        at_version = self._key("parity", route, "v", version)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(self._key("parity", route), outcome, n)
        pipe.hincrby(at_version, outcome, n)
        pipe.expire(at_version, KEEP_VERSIONS_S)
        pipe.sadd(self._key("parity", route, "versions"), version)
        pipe.hincrby(minute, outcome, n)
        pipe.expire(minute, KEEP_MINUTES_S)
        pipe.hincrby(second, outcome, n)
        pipe.expire(second, KEEP_SECONDS_S)
        pipe.sadd(f"{self._ns}:parity-routes", route)
        kind = "discounted" if outcome == "discounted" else "noise"
        for path in paths:
            pipe.hincrby(self._key(kind, route), path, 1)
        await pipe.execute()

    async def sample(self, route: str, sample: dict[str, Any]) -> None:
        key = self._key("mismatches", route)
        pipe = self._redis.pipeline(transaction=False)
        pipe.lpush(key, json.dumps(sample))
        pipe.ltrim(key, 0, self._cap - 1)
        pipe.expire(key, self._ttl_s)
        await pipe.execute()

    async def figures(self, window_s: int = WINDOW_S) -> dict[str, dict[str, Any]]:
        members: set[Any] = await self._redis.smembers(f"{self._ns}:parity-routes")
        result = {}
        for route in sorted(_text(m) for m in members):
            raw = await self._redis.hgetall(self._key("parity", route))
            noise = await self._redis.hgetall(self._key("noise", route))
            discounted = await self._redis.hgetall(self._key("discounted", route))
            versions = sorted(
                int(v) for v in await self._redis.smembers(self._key("parity", route, "versions"))
            )
            pipe = self._redis.pipeline(transaction=False)
            for version in versions:
                pipe.hgetall(self._key("parity", route, "v", version))
            for minute in self._minutes(route, window_s):
                pipe.hgetall(minute)
            found = [_ints(r) for r in await pipe.execute()]
            by_version, recent = found[: len(versions)], found[len(versions) :]
            result[route] = {
                **summarise(_ints(raw), _ints(noise), _ints(discounted)),
                "window": {"seconds": window_s, **_brief(_added(recent))},
                "versions": {
                    str(v): _brief(c) for v, c in zip(versions, by_version, strict=True) if c
                },
            }
        return result

    async def samples(self, route: str, limit: int) -> list[dict[str, Any]]:
        raw: list[Any] = await self._redis.lrange(self._key("mismatches", route), 0, limit - 1)
        return [json.loads(item) for item in raw]

    async def noise(self, route: str) -> frozenset[str]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(self._key("parity", route), ["noise_match", "noise_mismatch"])
        pipe.hgetall(self._key("noise", route))
        (matched, mismatched), paths = await pipe.execute()
        counts = {"noise_match": int(matched or 0), "noise_mismatch": int(mismatched or 0)}
        return noisy(counts, _ints(paths))

    async def reset(self, route: str) -> None:
        versions = await self._redis.smembers(self._key("parity", route, "versions"))
        now = int(self._clock())
        await self._redis.delete(
            self._key("parity", route),
            self._key("parity", route, "versions"),
            self._key("noise", route),
            self._key("discounted", route),
            self._key("mismatches", route),
            *(self._key("parity", route, "v", _text(v)) for v in versions),
            *self._minutes(route, KEEP_MINUTES_S),
            *(second_key(self._ns, route, s) for s in range(now - KEEP_SECONDS_S, now + 1)),
        )


class InMemoryParityStore:
    def __init__(self, cap: int = 100, ttl_s: float = 86_400, clock: Clock = time.time) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._versions: dict[str, dict[int, Counter[str]]] = {}
        self._minutes: dict[str, dict[int, Counter[str]]] = {}
        self._seconds: dict[str, dict[int, Counter[str]]] = {}
        self._noise: dict[str, Counter[str]] = {}
        self._discounted: dict[str, Counter[str]] = {}
        self._samples: dict[str, deque[tuple[float, dict[str, Any]]]] = {}
        self._cap = cap
        self._ttl_s = ttl_s
        self._clock = clock

    async def count(
        self,
        route: str,
        outcome: str,
        version: int,
        paths: Iterable[str] = (),
        n: int = 1,
    ) -> None:
        now = self._clock()
        minute = int(now // 60)
        self._counts.setdefault(route, Counter())[outcome] += n
        self._versions.setdefault(route, {}).setdefault(version, Counter())[outcome] += n
        self._minutes.setdefault(route, {}).setdefault(minute, Counter())[outcome] += n
        self._count_second(route, int(now), outcome, n)
        kind = self._discounted if outcome == "discounted" else self._noise
        kind.setdefault(route, Counter()).update(paths)

    def _count_second(self, route: str, second: int, outcome: str, n: int) -> None:
        seconds = self._seconds.setdefault(route, {})
        if second not in seconds:  # a new second: forget those past the hour, as Redis would
            for old in [s for s in seconds if s <= second - KEEP_SECONDS_S]:
                del seconds[old]
        seconds.setdefault(second, Counter())[outcome] += n

    def per_second(self, route: str, first: int, last: int) -> Counter[str]:
        """The route's outcomes counted in epoch seconds `first` to `last` (both included)."""
        seconds = self._seconds.get(route, {})
        return _added(c for s, c in seconds.items() if first <= s <= last)

    async def sample(self, route: str, sample: dict[str, Any]) -> None:
        self._samples.setdefault(route, deque(maxlen=self._cap)).appendleft((self._clock(), sample))

    async def figures(self, window_s: int = WINDOW_S) -> dict[str, dict[str, Any]]:
        since = int(self._clock() // 60) - window_s // 60
        result = {}
        for route, counts in sorted(self._counts.items()):
            recent = (c for m, c in self._minutes.get(route, {}).items() if m >= since)
            result[route] = {
                **summarise(counts, self._noise.get(route, Counter()), self._discounted.get(route)),
                "window": {"seconds": window_s, **_brief(_added(recent))},
                "versions": {
                    str(v): _brief(c) for v, c in sorted(self._versions.get(route, {}).items())
                },
            }
        return result

    async def samples(self, route: str, limit: int) -> list[dict[str, Any]]:
        fresh = self._clock() - self._ttl_s
        return [s for at, s in self._samples.get(route, deque()) if at >= fresh][:limit]

    async def noise(self, route: str) -> frozenset[str]:
        return noisy(self._counts.get(route, Counter()), self._noise.get(route, Counter()))

    async def reset(self, route: str) -> None:
        for store in (
            self._counts,
            self._versions,
            self._minutes,
            self._seconds,
            self._noise,
            self._discounted,
            self._samples,
        ):
            store.pop(route, None)
