"""The users service's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class UsersSettings:
    database_url: str = "sqlite:///shop.db"
    idempotency_lease_s: float = 60.0
    idempotency_purge_every_s: float = 600.0  # how often expired keys are dropped; 0: never
    # proves the gateway's dry runs (STRANGLER_DRY_RUN_KEY, platform/dry_run.py); none: the
    # service refuses every dry run
    dry_run_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> UsersSettings:
        return cls(
            database_url=environ.get("DATABASE_URL") or cls.database_url,
            idempotency_lease_s=float(
                environ.get("USERS_IDEMPOTENCY_LEASE_S", cls.idempotency_lease_s)
            ),
            idempotency_purge_every_s=float(
                environ.get("USERS_IDEMPOTENCY_PURGE_EVERY_S", cls.idempotency_purge_every_s)
            ),
            dry_run_key=environ.get("STRANGLER_DRY_RUN_KEY") or None,
        )
