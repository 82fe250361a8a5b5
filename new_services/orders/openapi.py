"""The orders service's OpenAPI document (served at /openapi.json). v1 is the legacy contract
(`legacy_app/API.md`), described here by path, parameters and statuses; v2 comes with its
own schemas."""

from __future__ import annotations

from typing import Any

from new_services.orders.service import MAX_LINE_QUANTITY
from new_services.platform.openapi import (
    BODY_PROBLEMS,
    ETAG,
    IDEMPOTENCY_KEY,
    IF_NONE_MATCH,
    LEGACY_ID,
    NOT_MODIFIED,
    PAGING,
    TIME,
    TIME_SORT,
    UUID,
    document,
    int_path,
    json_answer,
    json_body,
    legacy,
    problems,
    ref,
    uuid_path,
)

_USER = int_path("user_id")
_ORDER_ID = uuid_path("order_id", "The order's UUID (`id`); anything else names nothing: 404.")
_PAGE_OF_ORDERS = json_answer(
    "a page; `next` is the cursor of the next one",
    {
        "type": "object",
        "required": ["orders", "next"],
        "additionalProperties": False,
        "properties": {
            "orders": {"type": "array", "items": ref("Order")},
            "next": {"type": ["string", "null"]},
        },
    },
    ETAG,
)
_CENTS = {"type": "integer", "minimum": 0}
# a dry run (the gateway's mirror) places nothing: its order has no legacy id yet
_NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1}

_V1: dict[str, Any] = {
    "/users/{user_id}/cart": {
        "get": legacy("A user's cart", {"200": "the cart", "404": "user_not_found"}, [_USER])
    },
    "/users/{user_id}/cart/items": {
        "post": {
            **legacy(
                "Add a product to the cart",
                {
                    "200": "the cart",
                    "400": "invalid_json, validation_error",
                    "404": "user_not_found, product_not_found",
                    "413": "payload_too_large",
                },
                [_USER],
            ),
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["product_id", "quantity"],
                    "properties": {
                        "product_id": {"type": "integer"},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_QUANTITY},
                    },
                }
            ),
        }
    },
    "/users/{user_id}/cart/items/{product_id}": {
        "delete": legacy(
            "Remove a line",
            {"200": "the cart", "404": "user_not_found, item_not_found"},
            [_USER, int_path("product_id")],
        )
    },
    "/users/{user_id}/checkout": {
        "post": {
            **legacy(
                "Turn the cart into an order",
                {
                    "201": "the order",
                    "400": "invalid_json, validation_error",
                    "402": "card_declined",
                    "404": "user_not_found",
                    "409": "out_of_stock, checkout_abandoned",
                    "413": "payload_too_large",
                    "422": "cart_empty, invalid_discount_code, product_unavailable",
                    "502": "payment_failed",
                    "503": "dependency_unavailable",
                },
                [_USER],
            ),
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["card_token"],
                    "properties": {
                        "card_token": {"type": "string", "minLength": 1},
                        "discount_code": {"type": ["string", "null"]},
                    },
                }
            ),
        }
    },
    "/users/{user_id}/orders": {
        "get": legacy(
            "A user's orders, newest first",
            {"200": "`{orders: [order, ...]}`", "404": "user_not_found"},
            [_USER],
        )
    },
    "/orders/{order_id}": {
        "get": legacy(
            "One order", {"200": "the order", "404": "order_not_found"}, [int_path("order_id")]
        )
    },
    "/orders/{order_id}/cancel": {
        "post": legacy(
            "Refund, restock, and cancel",
            {
                "200": "cancelled",
                "202": "under way: the refund may have happened; the service finishes it",
                "404": "order_not_found",
                "502": "refund_failed",
            },
            [int_path("order_id")],
        )
    },
}

_V2: dict[str, Any] = {
    "/v2/checkouts": {
        "post": {
            "summary": "Turn a user's cart into an order, once per key",
            "tags": ["v2"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["user_id", "card_token"],
                    "additionalProperties": False,
                    "properties": {
                        "user_id": LEGACY_ID,
                        "card_token": {"type": "string", "minLength": 1, "maxLength": 255},
                        "discount_code": {"type": "string", "minLength": 1, "maxLength": 32},
                    },
                }
            ),
            "responses": {
                "201": json_answer(
                    "placed", ref("Order"), {"Location": {"schema": {"type": "string"}}}
                ),
                **problems(*BODY_PROBLEMS, "402", "404", "409", "422", "502", "503"),
            },
        }
    },
    "/v2/orders": {
        "get": {
            "summary": "A user's live orders in time order, by cursor pages",
            "tags": ["v2"],
            "parameters": [
                {"name": "user_id", "in": "query", "required": True, "schema": LEGACY_ID},
                *PAGING,
                TIME_SORT,
                IF_NONE_MATCH,
            ],
            "responses": {
                "200": _PAGE_OF_ORDERS,
                "304": NOT_MODIFIED,
                **problems("400", "404", "503"),
            },
        }
    },
    "/v2/orders/{order_id}": {
        "get": {
            "summary": "One live order by UUID (ETag, If-None-Match)",
            "tags": ["v2"],
            "parameters": [_ORDER_ID, IF_NONE_MATCH],
            "responses": {
                "200": json_answer("the order", ref("Order"), ETAG),
                "304": NOT_MODIFIED,
                **problems("404"),
            },
        }
    },
    "/v2/orders/{order_id}/cancellation": {
        "post": {
            "summary": "Refund in full, restock, and take the order off the books",
            "tags": ["v2"],
            "parameters": [_ORDER_ID, IDEMPOTENCY_KEY],
            "requestBody": json_body(
                {"type": "object", "maxProperties": 0, "description": "nothing, or {}"},
                required=False,
            ),
            "responses": {
                "200": json_answer("cancelled", ref("Cancellation")),
                "202": json_answer(
                    "under way (status `cancelling`): the refund may have happened and its "
                    "answer was lost; the service finishes the cancellation itself, and a "
                    "retry with the same key answers how it ended",
                    ref("CancellationUnderWay"),
                ),
                **problems(*BODY_PROBLEMS, "404", "409", "422", "502", "503"),
            },
        }
    },
    "/v2/order-feed": {
        "get": {
            "summary": "Internal: every order, cancelled ones included, by legacy id",
            "description": (
                "For a read model rebuilt from the whole book (`strangler analytics "
                "rebuild`). The gateway has no route to it."
            ),
            "tags": ["internal"],
            "parameters": PAGING,
            "responses": {"200": _PAGE_OF_ORDERS, **problems("400")},
        }
    },
}

_SCHEMAS: dict[str, Any] = {
    "Order": {
        "type": "object",
        "required": [
            "id",
            "legacy_id",
            "user_id",
            "status",
            "items",
            "subtotal_cents",
            "discount_code",
            "discount_cents",
            "shipping_cents",
            "tax_cents",
            "total_cents",
            "payment_id",
            "charge_id",
            "created_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "legacy_id": _NULLABLE_ID,
            "user_id": LEGACY_ID,
            "status": {"enum": ["placed", "cancelling", "cancelled"]},
            "items": {"type": "array", "items": ref("OrderLine")},
            "subtotal_cents": _CENTS,
            "discount_code": {"type": ["string", "null"], "description": "upper-cased"},
            "discount_cents": _CENTS,
            "shipping_cents": _CENTS,
            "tax_cents": _CENTS,
            "total_cents": _CENTS,
            "payment_id": {**UUID, "type": ["string", "null"]},
            "charge_id": {"type": ["string", "null"]},
            "created_at": TIME,
        },
    },
    "OrderLine": {
        "type": "object",
        "required": ["product_id", "name", "unit_price_cents", "quantity", "total_cents"],
        "additionalProperties": False,
        "properties": {
            "product_id": {**LEGACY_ID, "description": "the product's legacy id"},
            "name": {"type": "string"},
            "unit_price_cents": _CENTS,
            "quantity": {"type": "integer", "minimum": 1},
            "total_cents": _CENTS,
        },
    },
    "Cancellation": {
        "type": "object",
        "required": ["order_id", "status", "refund_id", "refunded_cents"],
        "additionalProperties": False,
        "properties": {
            "order_id": UUID,
            "status": {"const": "cancelled"},
            "refund_id": {"type": ["string", "null"]},
            "refunded_cents": _CENTS,
        },
    },
    "CancellationUnderWay": {
        "type": "object",
        "required": ["order_id", "status", "detail"],
        "additionalProperties": False,
        "properties": {
            "order_id": UUID,
            "status": {"const": "cancelling"},
            "detail": {"type": "string"},
        },
    },
}

OPENAPI: dict[str, Any] = document(
    "orders",
    "Carts, checkout, history and cancel. v1: the legacy shop's paths (legacy_app/API.md); "
    "v2: UUIDs, cursor pages, ETags, problem+json, Idempotency-Key.",
    {**_V1, **_V2},
    _SCHEMAS,
)
