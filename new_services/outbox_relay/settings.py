"""The relay's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RelaySettings:
    database_url: str
    redis_url: str
    namespace: str = "strangler"
    idle_s: float = 0.2  # the pause when there was nothing to publish
    batch: int = 100
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # Prometheus metrics (metrics.py) on this port; 0: none

    @property
    def heartbeat_key(self) -> str:
        """Set while the relay runs (the runner's health check reads it)."""
        return f"{self.namespace}:outbox-relay:heartbeat"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RelaySettings:
        return cls(
            database_url=environ.get("DATABASE_URL") or "sqlite:///shop.db",
            redis_url=environ.get("REDIS_URL", "redis://127.0.0.1:8005/0"),
            namespace=environ.get("STRANGLER_NAMESPACE", "strangler"),
            idle_s=float(environ.get("RELAY_IDLE_S", "0.2")),
            batch=int(environ.get("RELAY_BATCH", "100")),
            metrics_host=environ.get("RELAY_METRICS_HOST", "127.0.0.1"),
            metrics_port=int(environ.get("RELAY_METRICS_PORT") or "0"),
        )
