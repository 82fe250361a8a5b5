"""The notifications worker's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class NotificationsSettings:
    redis_url: str
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8004
    sender: str = "shop@example.com"
    smtp_timeout_s: float = 10.0
    namespace: str = "strangler"
    # how long a claimed send may take before another try may claim it: no longer than RQ's
    # lease on the job (platform/workers.py JOB_LEASE_S), or the retry of a job whose worker
    # died would find the claim still held, and wait
    lease_s: int = 30
    workers: int = 4  # sends in flight at once

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> NotificationsSettings:
        return cls(
            redis_url=environ.get("REDIS_URL", "redis://127.0.0.1:8005/0"),
            smtp_host=environ.get("SMTP_HOST", "127.0.0.1"),
            smtp_port=int(environ.get("SMTP_PORT", "8004")),
            sender=environ.get("SHOP_FROM_EMAIL", "shop@example.com"),
            smtp_timeout_s=float(environ.get("SMTP_TIMEOUT_S", "10")),
            namespace=environ.get("STRANGLER_NAMESPACE", "strangler"),
            lease_s=int(environ.get("NOTIFICATIONS_LEASE_S", "30")),
            workers=int(environ.get("NOTIFICATIONS_WORKERS", "4")),
        )
