"""The order events analytics reacts to, read from the outbox's messages.

A message is `{"id", "topic", "aggregate_id", "payload", "created_at"}`
(`platform/outbox.py`); the payloads are the orders service's, fixed by topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from new_services.analytics.errors import InvalidEvent
from new_services.analytics.model import OrderItem, Sale


@dataclass(frozen=True)
class OrderPlaced:
    event_id: str
    order_id: int
    ordered_at: datetime
    total_cents: int
    items: tuple[OrderItem, ...]

    topic = "order.placed"

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> OrderPlaced:
        return cls(*_order_fields(message, cls.topic))

    def sale(self) -> Sale:
        return Sale.of_order(self.ordered_at, self.total_cents, self.items)


@dataclass(frozen=True)
class OrderCancelled:
    """Carries the order's placement time and lines, so it can undo exactly what the
    placement added, even when it is delivered first."""

    event_id: str
    order_id: int
    ordered_at: datetime
    total_cents: int
    items: tuple[OrderItem, ...]

    topic = "order.cancelled"

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> OrderCancelled:
        return cls(*_order_fields(message, cls.topic))

    def sale(self) -> Sale:
        return Sale.of_order(self.ordered_at, self.total_cents, self.items).reversed()


OrderEvent = OrderPlaced | OrderCancelled


def events_of_order(order: Mapping[str, Any]) -> list[OrderEvent]:
    """What an order in the orders service's v2 shape (`GET /v2/order-feed`) amounts to:
    its placement, and its cancellation when its status says so."""
    message = {
        "id": f"order:{order.get('id')}",
        "topic": OrderPlaced.topic,
        "payload": {
            "order_id": order.get("legacy_id"),
            "created_at": order.get("created_at"),
            "total_cents": order.get("total_cents"),
            "items": order.get("items"),
        },
    }
    placed = OrderPlaced.from_message(message)
    if order.get("status") != "cancelled":
        return [placed]
    return [placed, OrderCancelled.from_message({**message, "topic": OrderCancelled.topic})]


def _order_fields(
    message: Mapping[str, Any], topic: str
) -> tuple[str, int, datetime, int, tuple[OrderItem, ...]]:
    """Event id, order id, placement time, total and lines: what both events carry."""
    event_id, payload = message.get("id"), message.get("payload")
    # legacy.<topic>: the same fact, captured from legacy's write; it counts once with its
    # order however it came (service.record keys by the order)
    if message.get("topic") not in (topic, f"legacy.{topic}"):
        raise InvalidEvent(f"expected {topic}, got {message.get('topic')!r}")
    if not isinstance(event_id, str) or not event_id or not isinstance(payload, Mapping):
        raise InvalidEvent(f"{topic} message without an id or a payload")
    return (
        event_id,
        _int(payload, "order_id"),
        _moment(payload, "created_at"),  # the placement's time, in both events
        _int(payload, "total_cents"),
        _items(payload),
    )


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEvent(f"{key} must be an integer, got {value!r}")
    return value


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InvalidEvent(f"{key} must be a string, got {value!r}")
    return value


def _moment(data: Mapping[str, Any], key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_str(data, key))
    except ValueError as exc:
        raise InvalidEvent(f"{key} must be an ISO 8601 time, got {data[key]!r}") from exc
    if moment.tzinfo is None:  # a day is a UTC day: a time without its zone names none
        raise InvalidEvent(f"{key} must carry its time zone, got {data[key]!r}")
    return moment


def _items(payload: Mapping[str, Any]) -> tuple[OrderItem, ...]:
    items = payload.get("items")
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise InvalidEvent("items must be a list of objects")
    return tuple(
        OrderItem(
            _int(item, "product_id"),
            _str(item, "name"),
            _int(item, "unit_price_cents"),
            _int(item, "quantity"),
        )
        for item in items
    )
