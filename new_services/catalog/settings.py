"""The catalog service's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CatalogSettings:
    database_url: str = "sqlite:///shop.db"
    redis_url: str = "redis://127.0.0.1:8005/0"  # the stack's Redis (`strangler up`)
    namespace: str = "strangler"  # prefix of every Redis key, so stacks sharing one never mix
    cache_ttl_s: float = 30.0  # how stale a product written around the catalog may be; 0: off
    cache_timeout_s: float = 0.25  # a Redis slower than this is treated as down
    idempotency_lease_s: float = 60.0
    idempotency_purge_every_s: float = 600.0  # how often expired keys are dropped; 0: never
    hold_for_s: float = 15 * 60.0  # a checkout's hold is released if not committed by then
    # How often expired holds (their checkout died before placing the order) are released;
    # 0: never. A placed order's hold is committed by the catalog worker from the order's
    # event, in well under `hold_for_s` unless the relay or the worker is down that long.
    sweep_every_s: float = 60.0
    # proves the gateway's dry runs (STRANGLER_DRY_RUN_KEY, platform/dry_run.py); none: the
    # catalog refuses every dry run
    dry_run_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CatalogSettings:
        return cls(
            database_url=environ.get("DATABASE_URL") or cls.database_url,
            redis_url=environ.get("REDIS_URL") or cls.redis_url,
            namespace=environ.get("STRANGLER_NAMESPACE") or cls.namespace,
            cache_ttl_s=float(environ.get("CATALOG_CACHE_TTL_S", cls.cache_ttl_s)),
            cache_timeout_s=float(environ.get("CATALOG_CACHE_TIMEOUT_S", cls.cache_timeout_s)),
            idempotency_lease_s=float(
                environ.get("CATALOG_IDEMPOTENCY_LEASE_S", cls.idempotency_lease_s)
            ),
            idempotency_purge_every_s=float(
                environ.get("CATALOG_IDEMPOTENCY_PURGE_EVERY_S", cls.idempotency_purge_every_s)
            ),
            hold_for_s=float(environ.get("CATALOG_HOLD_FOR_S", cls.hold_for_s)),
            sweep_every_s=float(environ.get("CATALOG_SWEEP_EVERY_S", cls.sweep_every_s)),
            dry_run_key=environ.get("STRANGLER_DRY_RUN_KEY") or None,
        )
