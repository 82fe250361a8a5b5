"""HTTP edge, v2: orders by UUID, cursor pages of a user's history, ETags, problem+json,
and `Idempotency-Key` on every POST (a retried checkout returns the same order)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from new_services.orders.api_v1 import Wiring
from new_services.orders.errors import OrderNotFound
from new_services.orders.model import Order, PlaceOrder, line_items
from new_services.orders.service import UNDER_WAY
from new_services.platform.http import (
    cached_json,
    decode_cursor,
    dry_run_headers,
    encode_cursor,
    is_dry_run,
    json_object,
    page_size,
    sorts_oldest_first,
    time_cursor,
    time_position,
)
from new_services.platform.idempotency import IdempotencyStore, idempotent
from new_services.platform.problems import InvalidRequest
from new_services.platform.v1 import MAX_ID, is_int, iso


class WiringV2(Wiring):
    keys: IdempotencyStore


def order_v2(order: Order) -> dict[str, Any]:
    return {
        "id": str(order.uuid),
        "legacy_id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "items": line_items(order),
        **order.price.as_fields(),
        "payment_id": order.charge.payment_id if order.charge else None,
        "charge_id": order.charge_id,
        "created_at": iso(order.created_at),
    }


def _order_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["order_id"])
    except ValueError as exc:
        raise OrderNotFound(f"no order {request.path_params['order_id']}") from exc


def _user_id(raw: Any) -> int:
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = int(raw)
    if not is_int(raw) or not 1 <= raw <= MAX_ID:
        raise InvalidRequest("user_id must be a positive 64-bit integer")
    return int(raw)


def _legacy_id(value: Any) -> int:
    if not is_int(value) or not 1 <= value <= MAX_ID:
        raise TypeError("an order's legacy id is a positive 64-bit integer")
    return int(value)


def _place_order(body: dict[str, Any]) -> PlaceOrder:
    unknown = sorted(set(body) - {"user_id", "card_token", "discount_code"})
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(unknown)}")
    token, code = body.get("card_token"), body.get("discount_code")
    if not isinstance(token, str) or not 1 <= len(token) <= 255:
        raise InvalidRequest("card_token must be a string of 1 to 255 characters")
    if code is not None and (not isinstance(code, str) or not 1 <= len(code) <= 32):
        raise InvalidRequest("discount_code must be a string of 1 to 32 characters")
    return PlaceOrder(_user_id(body.get("user_id")), token, code)


class OrdersApiV2:
    def __init__(self, wiring: WiringV2) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            Route("/v2/checkouts", self.checkout, methods=["POST"]),
            Route("/v2/orders", self.list_orders, methods=["GET"]),
            Route("/v2/orders/{order_id}", self.get_order, methods=["GET"]),
            Route("/v2/orders/{order_id}/cancellation", self.cancel, methods=["POST"]),
            # internal, like catalog's holds: the gateway has no route to it
            Route("/v2/order-feed", self.feed, methods=["GET"]),
        ]

    async def checkout(self, request: Request) -> Response:
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            command = _place_order(json_object(body))
            key = request.headers["idempotency-key"]
            order = await self._wiring.checkout(command, key, dry_run=dry_run)
            headers = {"Location": f"/v2/orders/{order.uuid}"}
            if dry_run:
                headers.update(
                    dry_run_headers("$.legacy_id", "$.payment_id", "$.charge_id", "$.created_at")
                )
            return JSONResponse(order_v2(order), status_code=201, headers=headers)

        return await idempotent(
            request, self._wiring.keys, run, scope="POST /v2/checkouts", dry_run=dry_run
        )

    async def cancel(self, request: Request) -> Response:
        order_id = _order_id(request)
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            if body.strip() and json_object(body):
                raise InvalidRequest("a cancellation takes no fields")
            done = await self._wiring.orders.cancel(order_id, dry_run)
            if done.refund is None:  # under way; a 202 is not kept for the key: retry to see
                return JSONResponse({"order_id": str(done.order.uuid), **UNDER_WAY}, 202)
            answer = {
                "order_id": str(done.order.uuid),
                "status": "cancelled",
                "refund_id": done.refund.refund_id,
                "refunded_cents": done.refund.amount_cents,
            }
            return JSONResponse(answer)

        scope = f"POST /v2/orders/{order_id}/cancellation"
        return await idempotent(request, self._wiring.keys, run, scope=scope, dry_run=dry_run)

    async def feed(self, request: Request) -> Response:
        """Every order, cancelled ones included (`status`), by legacy id, `limit` per page
        (at most 100): for a read model rebuilt from the whole book (analytics)."""
        limit = page_size(request)
        after = 0
        cursor = request.query_params.get("cursor")
        if cursor is not None:
            last = decode_cursor(cursor).get("after")
            if not is_int(last):
                raise InvalidRequest("cursor is not one this service gave out")
            after = int(last)
        page = list(await self._wiring.orders.feed(after, limit + 1))
        more = len(page) > limit
        page = page[:limit]
        body: dict[str, Any] = {"orders": [order_v2(order) for order in page], "next": None}
        if more:
            body["next"] = encode_cursor({"after": page[-1].id})
        return JSONResponse(body)

    async def get_order(self, request: Request) -> Response:
        order = await self._wiring.orders.by_uuid(_order_id(request))
        return cached_json(request, order_v2(order))

    async def list_orders(self, request: Request) -> Response:
        """A user's orders, `limit` per page (at most 100), newest first or, with
        `sort=created_at`, oldest first; `next` is the cursor of the next page."""
        user_id = _user_id(request.query_params.get("user_id"))
        limit = page_size(request)
        oldest = sorts_oldest_first(request)
        after = time_position(request, oldest, _legacy_id)
        page = list(await self._wiring.orders.page(user_id, after, limit + 1, oldest))
        more = len(page) > limit
        page = page[:limit]
        body: dict[str, Any] = {"orders": [order_v2(order) for order in page], "next": None}
        if more:
            body["next"] = time_cursor(page[-1].created_at, page[-1].id, oldest)
        return cached_json(request, body)
