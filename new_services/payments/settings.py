"""The payments service's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PaymentsSettings:
    database_url: str
    provider_url: str
    provider_timeout_s: float = 5.0
    idempotency_lease_s: float = 60.0
    idempotency_purge_every_s: float = 600.0  # how often expired keys are dropped; 0: never
    # a payment or refund pending, untouched, longer than this is settled (service.settle);
    # 0: never. At least the key lease: no request is still working on it by then.
    settle_after_s: float = 300.0
    unsettled_after_s: float = 600.0  # one pending longer is reported (the settler is stuck)
    # how often both happen (settling, then the metrics and the log); 0: never
    check_unsettled_every_s: float = 30.0
    # a payment voided with no charge is asked about again every this often, until this
    # long after it was made (a charge the provider made later still is given back); 0: never
    recheck_voided_every_s: float = 3600.0
    recheck_voided_for_s: float = 86400.0
    # proves the gateway's dry runs (STRANGLER_DRY_RUN_KEY, platform/dry_run.py); none: the
    # payments service refuses every dry run
    dry_run_key: str | None = field(default=None, repr=False)
    # the payments worker's (worker.py): where the outbox relay leaves its jobs
    redis_url: str = field(default="redis://127.0.0.1:8005/0", repr=False)
    namespace: str = "strangler"  # its queue is `{namespace}-payments`

    def __post_init__(self) -> None:
        # A request is cut off at 80% of its key's lease (platform/idempotency.py): the
        # provider's timeout must fit well inside, or no retry could ever finish a charge.
        if self.provider_timeout_s * 2 + 5 > self.idempotency_lease_s * 0.8:
            raise ValueError(
                f"PAYMENTS_IDEMPOTENCY_LEASE_S ({self.idempotency_lease_s}) is too short for "
                f"PAYMENTS_PROVIDER_TIMEOUT_S ({self.provider_timeout_s}): make the lease at "
                "least (2 x timeout + 5) / 0.8 seconds"
            )
        if 0 < self.settle_after_s < self.idempotency_lease_s:
            raise ValueError(
                f"PAYMENTS_SETTLE_AFTER_S ({self.settle_after_s}) must be at least "
                f"PAYMENTS_IDEMPOTENCY_LEASE_S ({self.idempotency_lease_s}), or 0: a request "
                "may still be charging a payment younger than that"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> PaymentsSettings:
        return cls(
            database_url=environ.get("DATABASE_URL") or "sqlite:///shop.db",
            provider_url=environ.get("PAYMENTS_PROVIDER_URL", "http://127.0.0.1:8002"),
            provider_timeout_s=float(environ.get("PAYMENTS_PROVIDER_TIMEOUT_S", "5")),
            idempotency_lease_s=float(environ.get("PAYMENTS_IDEMPOTENCY_LEASE_S", "60")),
            idempotency_purge_every_s=float(
                environ.get("PAYMENTS_IDEMPOTENCY_PURGE_EVERY_S", cls.idempotency_purge_every_s)
            ),
            settle_after_s=float(environ.get("PAYMENTS_SETTLE_AFTER_S", cls.settle_after_s)),
            unsettled_after_s=float(
                environ.get("PAYMENTS_UNSETTLED_AFTER_S", cls.unsettled_after_s)
            ),
            check_unsettled_every_s=float(
                environ.get("PAYMENTS_CHECK_UNSETTLED_EVERY_S", cls.check_unsettled_every_s)
            ),
            dry_run_key=environ.get("STRANGLER_DRY_RUN_KEY") or None,
            recheck_voided_every_s=float(
                environ.get("PAYMENTS_RECHECK_VOIDED_EVERY_S", cls.recheck_voided_every_s)
            ),
            recheck_voided_for_s=float(
                environ.get("PAYMENTS_RECHECK_VOIDED_FOR_S", cls.recheck_voided_for_s)
            ),
            redis_url=environ.get("REDIS_URL") or cls.redis_url,
            namespace=environ.get("STRANGLER_NAMESPACE") or cls.namespace,
        )

    @property
    def queue(self) -> str:
        return f"{self.namespace}-payments"
