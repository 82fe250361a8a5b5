"""Outbox messages as the orders service sends them, for the analytics tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

Item = tuple[int, int, int]  # product id, unit price, quantity

_order_ids = itertools.count(1)


def placed(
    at: str, items: list[Item], total: int | None = None, names: dict[int, str] | None = None
) -> dict[str, Any]:
    """An `order.placed` message; the total defaults to the lines' sum."""
    order_id = next(_order_ids)
    payload = {
        "order_id": order_id,
        "order_uuid": str(uuid.uuid4()),
        "user_id": 7,
        "email": "buyer@example.com",
        "name": "Buyer",
        "total_cents": sum(p * q for _, p, q in items) if total is None else total,
        "created_at": at,
        "items": [
            {
                "product_id": pid,
                "name": (names or {}).get(pid, f"Product {pid}"),
                "unit_price_cents": price,
                "quantity": quantity,
                "total_cents": price * quantity,
            }
            for pid, price, quantity in items
        ],
    }
    return _message("order.placed", order_id, payload)


def cancelled(placement: dict[str, Any], at: str = "2030-12-31T00:00:00Z") -> dict[str, Any]:
    """The `order.cancelled` message of the order `placement` placed."""
    kept = ("order_id", "order_uuid", "user_id", "total_cents", "created_at", "items")
    payload = {key: placement["payload"][key] for key in kept} | {"cancelled_at": at}
    return _message("order.cancelled", payload["order_id"], payload)


def _message(topic: str, order_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "aggregate_id": str(order_id),
        "payload": payload,
        "created_at": "2030-12-31T00:00:00+00:00",
    }
