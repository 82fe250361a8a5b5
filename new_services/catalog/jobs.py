"""RQ jobs: the catalog's side of order events, on the `{namespace}-catalog` queue.

`order.placed` names the stock hold its checkout took (`hold_id`); the order and its event
committed together, so this job is how a hold becomes final for sure, however the orders
process fared after answering. Committing twice changes nothing (only a `held` hold
moves), so a retry or a second delivery is safe. A job that raises (the database down) is
retried with backoff (platform/outbox.py RETRY), then parked in RQ's failed registry
(`strangler jobs failed`, `strangler jobs requeue`).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from new_services.catalog.inventory import Inventory
from new_services.catalog.model import HoldState
from new_services.catalog.settings import CatalogSettings
from new_services.platform.database import make_engine
from new_services.platform.tracing import traced_job

log = logging.getLogger(__name__)


@functools.cache
def engine() -> Engine:
    """One engine per worker process, made by its first job (nothing connects at import)."""
    return make_engine(CatalogSettings.from_env().database_url)


def _inventory() -> Inventory:
    return Inventory(engine(), timedelta(seconds=CatalogSettings.from_env().hold_for_s))


@traced_job("catalog: commit the order's hold")
def on_order_placed(message: Mapping[str, Any]) -> str:
    """The order is placed: its hold's units are sold for good."""
    payload = message["payload"]
    raw = payload.get("hold_id")
    if raw is None:  # placed before holds rode in the event: its checkout committed it
        return "no hold"
    hold_id = uuid.UUID(raw)
    inventory = _inventory()
    inventory.commit(hold_id)
    hold = inventory.find(hold_id)
    if hold is None or hold.state is not HoldState.COMMITTED:
        # Released before this event came: it outlived CATALOG_HOLD_FOR_S waiting here (the
        # relay or this worker was down that long) and the sweeper put its units back.
        log.error(
            "hold %s of order %s was %s before the order's event came: its units are on sale",
            hold_id,
            payload.get("order_uuid"),
            "unknown" if hold is None else hold.state.value,
        )
        return "released before the order's event"
    log.info("hold %s of order %s committed", hold_id, payload.get("order_uuid"))
    return "committed"
