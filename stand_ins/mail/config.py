"""Run-time tunables of the mail sink, changeable without a restart."""

from __future__ import annotations

from dataclasses import dataclass

from stand_ins.edge import partial_update
from stand_ins.mail.errors import ConfigError

MAX_DELAY_MS = 600_000


@dataclass(frozen=True)
class SinkConfig:
    """How slowly the sink answers each message's DATA."""

    delay_ms: int = 0

    def __post_init__(self) -> None:
        delay = self.delay_ms
        if isinstance(delay, bool) or not isinstance(delay, int):
            raise ConfigError("delay_ms must be an integer")
        if not 0 <= delay <= MAX_DELAY_MS:
            raise ConfigError(f"delay_ms must be between 0 and {MAX_DELAY_MS}")

    def as_json(self) -> dict[str, object]:
        return {"delay_ms": self.delay_ms}

    def updated(self, changes: object) -> SinkConfig:
        """Apply a partial update as sent to ``PUT /_admin/config``."""
        return partial_update(self, changes, ConfigError)
