"""HTTP edge, v1: the legacy shop's cart, checkout and order paths, answered byte for byte as
`legacy_app/API.md` says, so the gateway can move them here without a client noticing."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from new_services.orders.checkout import Checkout
from new_services.orders.model import Order, PlaceOrder
from new_services.orders.service import MAX_LINE_QUANTITY, UNDER_WAY, Cart, Orders
from new_services.platform.http import dry_run_headers, is_dry_run
from new_services.platform.v1 import (
    MAX_ID,
    LegacyError,
    is_int,
    iso,
    json_body,
    legacy_json,
    path_id,
)


class Wiring:
    """What the composition root builds in the lifespan, for the handlers to use."""

    orders: Orders
    checkout: Checkout


def cart_json(cart: Cart) -> dict[str, Any]:
    return {
        "user_id": cart.user_id,
        "items": [
            {
                "product_id": item.product.id,
                "name": item.product.name,
                "unit_price_cents": item.product.price_cents,
                "quantity": item.quantity,
                "line_total_cents": item.total_cents,
            }
            for item in cart.items
        ],
        "subtotal_cents": cart.subtotal_cents,
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "items": [
            {
                "product_id": line.product_id,
                "name": line.name,
                "unit_price_cents": line.unit_price_cents,
                "quantity": line.quantity,
                "line_total_cents": line.total_cents,
            }
            for line in order.lines
        ],
        **order.price.as_fields(),
        "charge_id": order.charge_id,
        "created_at": iso(order.created_at),
    }


class OrdersApiV1:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            Route("/users/{user_id:id}/cart", self.get_cart, methods=["GET"]),
            Route("/users/{user_id:id}/cart/items", self.add_to_cart, methods=["POST"]),
            Route(
                "/users/{user_id:id}/cart/items/{product_id:id}",
                self.remove_from_cart,
                methods=["DELETE"],
            ),
            Route("/users/{user_id:id}/checkout", self.checkout, methods=["POST"]),
            Route("/users/{user_id:id}/orders", self.list_orders, methods=["GET"]),
            Route("/orders/{order_id:id}", self.get_order, methods=["GET"]),
            Route("/orders/{order_id:id}/cancel", self.cancel, methods=["POST"]),
        ]

    async def get_cart(self, request: Request) -> Response:
        cart = await self._wiring.orders.cart(path_id(request, "user_id"))
        return legacy_json(cart_json(cart))

    async def add_to_cart(self, request: Request) -> Response:
        body = await json_body(request)
        product_id, quantity = body.get("product_id"), body.get("quantity")
        if not is_int(product_id) or product_id > MAX_ID:
            raise LegacyError(400, "validation_error", "product_id must be a 64-bit integer")
        if not is_int(quantity) or not 1 <= quantity <= MAX_LINE_QUANTITY:
            raise LegacyError(
                400,
                "validation_error",
                f"quantity must be an integer from 1 to {MAX_LINE_QUANTITY}",
            )
        user_id = path_id(request, "user_id")
        cart = await self._wiring.orders.add(user_id, product_id, quantity, is_dry_run(request))
        return legacy_json(cart_json(cart))

    async def remove_from_cart(self, request: Request) -> Response:
        user_id, product_id = path_id(request, "user_id"), path_id(request, "product_id")
        cart = await self._wiring.orders.remove(user_id, product_id, is_dry_run(request))
        return legacy_json(cart_json(cart))

    async def checkout(self, request: Request) -> Response:
        body = await json_body(request)
        card_token, code = body.get("card_token"), body.get("discount_code")
        if not isinstance(card_token, str) or not card_token:
            raise LegacyError(400, "validation_error", "card_token must be a non-empty string")
        if code is not None and not isinstance(code, str):
            raise LegacyError(400, "validation_error", "discount_code must be a string")
        command = PlaceOrder(path_id(request, "user_id"), card_token, code or None)
        # Legacy clients send no key, so each v1 checkout is a new one (as in legacy); a
        # client that sends `Idempotency-Key` gets the same order back on a retry.
        key = request.headers.get("idempotency-key") or f"v1-{uuid.uuid4()}"
        dry_run = is_dry_run(request)
        order = await self._wiring.checkout(command, key, dry_run=dry_run)
        response = legacy_json(order_json(order), 201)
        if dry_run:  # no order is placed: it has no id, charge or moment yet
            response.headers.update(dry_run_headers("$.id", "$.charge_id", "$.created_at"))
        return response

    async def list_orders(self, request: Request) -> Response:
        history = await self._wiring.orders.history(path_id(request, "user_id"))
        return legacy_json({"orders": [order_json(order) for order in history]})

    async def get_order(self, request: Request) -> Response:
        order = await self._wiring.orders.get(path_id(request, "order_id"))
        return legacy_json(order_json(order))

    async def cancel(self, request: Request) -> Response:
        dry_run = is_dry_run(request)
        done = await self._wiring.orders.cancel(path_id(request, "order_id"), dry_run)
        if done.refund is None:  # under way: the refund may happen, and the rest follows
            return legacy_json({"id": done.order.id, **UNDER_WAY}, status_code=202)
        response = legacy_json(
            {
                "id": done.order.id,
                "status": "cancelled",
                "refund_id": done.refund.refund_id,
                "refunded_cents": done.refund.amount_cents,
            }
        )
        if dry_run:  # nothing is refunded: the refund has no id
            response.headers.update(dry_run_headers("$.refund_id"))
        return response
