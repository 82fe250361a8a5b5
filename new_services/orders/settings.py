"""The orders service's settings, read once from the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from new_services.orders.pricing import SHOP_RULES, Rules


@dataclass(frozen=True)
class OrdersSettings:
    database_url: str
    users_url: str  # the users service
    catalog_url: str
    payments_url: str  # the payments service (not the provider)
    timeout_s: float = 10.0
    idempotency_lease_s: float = 60.0
    idempotency_purge_every_s: float = 600.0  # how often expired keys are dropped; 0: never
    finish_cancels_every_s: float = 10.0  # how often cancellations under way are carried on
    # a payment captured this long ago with no order is given back (orphans.py): longer than
    # any checkout takes from its charge to its order (the charge's own timeout is 10 s)
    orphan_after_s: float = 30.0
    settle_orphans_every_s: float = 10.0  # 0: never
    orphans_look_back_s: float = 3600.0  # how far back the first round looks
    pricing: Rules = field(default=SHOP_RULES)  # ORDERS_PRICING_RULES: a JSON file of them
    # proves the gateway's dry runs, and signs the dry-run stock holds the orders service
    # asks the catalog for (STRANGLER_DRY_RUN_KEY, platform/dry_run.py); none: refused
    dry_run_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> OrdersSettings:
        return cls(
            database_url=environ.get("DATABASE_URL") or "sqlite:///shop.db",
            users_url=environ.get("ORDERS_USERS_URL", "http://127.0.0.1:8014"),
            catalog_url=environ.get("ORDERS_CATALOG_URL", "http://127.0.0.1:8009"),
            payments_url=environ.get("ORDERS_PAYMENTS_URL", "http://127.0.0.1:8008"),
            timeout_s=float(environ.get("ORDERS_TIMEOUT_S", "10")),
            idempotency_lease_s=float(environ.get("ORDERS_IDEMPOTENCY_LEASE_S", "60")),
            idempotency_purge_every_s=float(
                environ.get("ORDERS_IDEMPOTENCY_PURGE_EVERY_S", cls.idempotency_purge_every_s)
            ),
            finish_cancels_every_s=float(
                environ.get("ORDERS_FINISH_CANCELS_EVERY_S", cls.finish_cancels_every_s)
            ),
            orphan_after_s=float(environ.get("ORDERS_ORPHAN_AFTER_S", cls.orphan_after_s)),
            settle_orphans_every_s=float(
                environ.get("ORDERS_SETTLE_ORPHANS_EVERY_S", cls.settle_orphans_every_s)
            ),
            orphans_look_back_s=float(
                environ.get("ORDERS_ORPHANS_LOOK_BACK_S", cls.orphans_look_back_s)
            ),
            pricing=_pricing(environ.get("ORDERS_PRICING_RULES")),
            dry_run_key=environ.get("STRANGLER_DRY_RUN_KEY") or None,
        )


def _pricing(path: str | None) -> Rules:
    """The shop's rules, or those in the JSON file `path` names (pricing.Rules.from_json)."""
    if not path:
        return SHOP_RULES
    try:
        return Rules.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise ValueError(f"ORDERS_PRICING_RULES={path}: {exc}") from exc
