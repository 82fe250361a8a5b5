"""A rollout's progress, kept in the shared store so a restarted controller (or another one)
goes on where it was, and the lease that lets one controller act at a time.

Every write is a compare-and-set on the rollout's revision: an operator's pause and the
controller's next step cannot both win. A controller's writes are also fenced by its lease:
one that lost the lease (stalled, then woke up) cannot write.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from redis.asyncio import Redis

from gateway.rollouts.spec import RolloutSpec

log = logging.getLogger("gateway.rollouts")

RUNNING, PAUSED = "running", "paused"
SUCCEEDED, ABORTED, PROMOTED = "succeeded", "aborted", "promoted"
ACTIVE = frozenset({RUNNING, PAUSED})
SHADOW_STEP = -1  # the shadow phase, before the first step
MAX_HISTORY = 50


@dataclass(frozen=True)
class Rollout:
    spec: RolloutSpec
    routes: tuple[str, ...]  # the route, or the group's routes, moved together
    started_at: float
    status: str = RUNNING
    step: int = 0  # index into spec.steps; SHADOW_STEP in the shadow phase
    applied: bool = False  # the step's settings are in the table
    step_started_at: float | None = None
    step_version: int | None = None
    failures: int = 0  # failed checks in a row, in this step
    checked_at: float | None = None
    last_check: Mapping[str, Any] | None = None  # {at, outcome, window_s, verdicts}
    note: str = ""  # why it holds or why it ended
    rev: int = 0
    history: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def weight(self) -> float:
        return 0.0 if self.step == SHADOW_STEP else self.spec.steps[self.step]

    def noted(self, **event: Any) -> Rollout:
        """With `event` appended to its history (the newest MAX_HISTORY kept)."""
        return replace(self, history=(*self.history, event)[-MAX_HISTORY:])

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["spec"] = self.spec.to_dict()
        document["routes"] = list(self.routes)
        document["history"] = list(self.history)
        return document

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Rollout:
        fields = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        fields["spec"] = RolloutSpec.from_mapping(raw["spec"])
        fields["routes"] = tuple(raw["routes"])
        fields["history"] = tuple(raw.get("history", ()))
        return cls(**fields)


class RolloutStore(Protocol):
    async def get(self, name: str) -> Rollout | None: ...

    async def all(self) -> list[Rollout]: ...

    async def save(self, rollout: Rollout, owner: str | None = None) -> Rollout | None:
        """Store `rollout` if the stored revision is still `rollout.rev` (0: none stored) and,
        with `owner`, if `owner` holds the lease; the stored rollout (rev + 1), else None."""
        ...

    async def lease(self, owner: str, ttl_s: float) -> bool:
        """Take the lease, or keep it when `owner` holds it; False when another holds it."""
        ...

    async def holder(self) -> str | None: ...

    async def release(self, owner: str) -> None: ...


_SAVE = """
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[4] then return 0 end
local current = redis.call('HGET', KEYS[2], ARGV[1]) or '0'
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], tonumber(ARGV[2]) + 1)
return 1
"""

_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisRolloutStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._keys = (f"{namespace}:rollouts", f"{namespace}:rollouts:rev")
        self._lease_key = f"{namespace}:rollouts:lease"
        self._save = redis.register_script(_SAVE)
        self._lease = redis.register_script(_LEASE)
        self._release = redis.register_script(_RELEASE)

    async def get(self, name: str) -> Rollout | None:
        raw = await self._redis.hget(self._keys[0], name)
        return Rollout.from_dict(json.loads(raw)) if raw else None

    async def all(self) -> list[Rollout]:
        """Every stored rollout that reads; one that does not (written around this module, or
        by a version that accepted what this one refuses) is logged and left out, so it holds
        no other rollout and no listing (`get` of it still raises)."""
        raw: Mapping[Any, Any] = await self._redis.hgetall(self._keys[0])
        found = []
        for name, value in raw.items():
            try:
                found.append(Rollout.from_dict(json.loads(value)))
            except (ValueError, LookupError, TypeError) as exc:
                log.warning("stored rollout %r does not read, left out: %s", name, exc)
        return sorted(found, key=lambda r: r.started_at)

    async def save(self, rollout: Rollout, owner: str | None = None) -> Rollout | None:
        stored = replace(rollout, rev=rollout.rev + 1)
        done = await self._save(
            keys=[*self._keys, self._lease_key],
            args=[rollout.name, rollout.rev, json.dumps(stored.to_dict()), owner or ""],
        )
        return stored if done else None

    async def lease(self, owner: str, ttl_s: float) -> bool:
        return bool(await self._lease(keys=[self._lease_key], args=[owner, int(ttl_s * 1000)]))

    async def holder(self) -> str | None:
        value = await self._redis.get(self._lease_key)
        return value.decode() if isinstance(value, bytes) else value

    async def release(self, owner: str) -> None:
        await self._release(keys=[self._lease_key], args=[owner])


class InMemoryRolloutStore:
    """One process's rollouts (a gateway without Redis, and unit tests); clock injected."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._rollouts: dict[str, Rollout] = {}
        self._holder: tuple[str, float] | None = None
        self._clock = clock

    async def get(self, name: str) -> Rollout | None:
        return self._rollouts.get(name)

    async def all(self) -> list[Rollout]:
        return sorted(self._rollouts.values(), key=lambda r: r.started_at)

    async def save(self, rollout: Rollout, owner: str | None = None) -> Rollout | None:
        if owner is not None and await self.holder() != owner:
            return None
        current = self._rollouts.get(rollout.name)
        if (current.rev if current else 0) != rollout.rev:
            return None
        stored = replace(rollout, rev=rollout.rev + 1)
        self._rollouts[rollout.name] = stored
        return stored

    async def lease(self, owner: str, ttl_s: float) -> bool:
        holder = await self.holder()
        if holder not in (None, owner):
            return False
        self._holder = (owner, self._clock() + ttl_s)
        return True

    async def holder(self) -> str | None:
        if self._holder is None or self._holder[1] <= self._clock():
            return None
        return self._holder[0]

    async def release(self, owner: str) -> None:
        if self._holder is not None and self._holder[0] == owner:
            self._holder = None
