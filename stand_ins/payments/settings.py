"""Payment stand-in settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from stand_ins.payments.errors import ConfigError
from stand_ins.payments.faults import FaultConfig

T = TypeVar("T")


@dataclass(frozen=True)
class PaymentsSettings:
    db_path: Path = Path("payments.db")
    latency_ms: int = 0
    failure_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        self.faults()  # validates both values

    def faults(self) -> FaultConfig:
        """The fault settings the provider starts with."""
        return FaultConfig(latency_ms=self.latency_ms, failure_rate=self.failure_rate)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PaymentsSettings:
        env = os.environ if environ is None else environ
        seed = env.get("PAYMENTS_SEED", "").strip()
        return cls(
            db_path=Path(env.get("PAYMENTS_DB_PATH", "payments.db")),
            latency_ms=_parse(env, "PAYMENTS_LATENCY_MS", "0", int),
            failure_rate=_parse(env, "PAYMENTS_FAILURE_RATE", "0", float),
            seed=_parse(env, "PAYMENTS_SEED", "", int) if seed else None,
        )


def _parse(env: Mapping[str, str], name: str, default: str, convert: Callable[[str], T]) -> T:
    raw = env.get(name, default)
    try:
        return convert(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid number: {raw!r}") from exc
