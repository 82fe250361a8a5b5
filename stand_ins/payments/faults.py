"""Run-time fault injection: answer latency and random outages, changeable without a restart."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from stand_ins.edge import partial_update
from stand_ins.payments.errors import ConfigError

MAX_LATENCY_MS = 600_000


@dataclass(frozen=True)
class FaultConfig:
    """How badly the provider behaves; validated whether it comes from env or the admin API."""

    latency_ms: int = 0
    failure_rate: float = 0.0

    def __post_init__(self) -> None:
        latency = self.latency_ms
        if isinstance(latency, bool) or not isinstance(latency, int):
            raise ConfigError("latency_ms must be an integer")
        if not 0 <= latency <= MAX_LATENCY_MS:
            raise ConfigError(f"latency_ms must be between 0 and {MAX_LATENCY_MS}")
        rate = self.failure_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ConfigError("failure_rate must be a number")
        if not (math.isfinite(rate) and 0 <= rate <= 1):
            raise ConfigError("failure_rate must be between 0 and 1")
        object.__setattr__(self, "failure_rate", float(rate))

    def as_json(self) -> dict[str, object]:
        return {"latency_ms": self.latency_ms, "failure_rate": self.failure_rate}

    def updated(self, changes: object) -> FaultConfig:
        """Apply a partial update as sent to ``PUT /_admin/config``."""
        return partial_update(self, changes, ConfigError)


class FaultInjector:
    """Decides, per request, whether to fail and how long to stall the answer."""

    def __init__(self, config: FaultConfig, seed: int | None = None) -> None:
        self.config = config
        self._rng = random.Random(seed)

    def should_fail(self) -> bool:
        return self._rng.random() < self.config.failure_rate

    async def stall(self) -> None:
        """Hold the answer back, as a slow network would, after the work is done."""
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
