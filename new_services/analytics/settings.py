"""The analytics worker's and reports API's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class AnalyticsSettings:
    redis_url: str
    namespace: str = "strangler"  # keys and the queue's name, so stacks can share one Redis

    @property
    def queue(self) -> str:
        return f"{self.namespace}-analytics"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AnalyticsSettings:
        return cls(
            redis_url=environ.get("REDIS_URL", "redis://127.0.0.1:8005/0"),
            namespace=environ.get("STRANGLER_NAMESPACE", "strangler"),
        )
