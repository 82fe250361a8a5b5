"""The orders service's OpenAPI document. v1 is the legacy contract (`legacy_app/API.md`),
described here by path only; v2 comes with its own schemas."""

from __future__ import annotations

from typing import Any

_LEGACY = {"description": "as legacy_app/API.md says"}
_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Same key and body: the stored answer. Same key, other body: 422. "
    "While the first is in flight: 409.",
}
_PROBLEM = {
    "description": "RFC 9457 problem; `type` is stable: urn:strangler-kit:problem:*",
    "content": {"application/problem+json": {"schema": {"type": "object"}}},
}
_ORDER = {"$ref": "#/components/schemas/Order"}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "strangler kit: orders", "version": "2"},
    "paths": {
        "/users/{user_id}/cart": {
            "get": {"summary": "A user's cart", "responses": {"200": _LEGACY}}
        },
        "/users/{user_id}/cart/items": {
            "post": {"summary": "Add a product to the cart", "responses": {"200": _LEGACY}}
        },
        "/users/{user_id}/cart/items/{product_id}": {
            "delete": {"summary": "Remove a line", "responses": {"200": _LEGACY}}
        },
        "/users/{user_id}/checkout": {
            "post": {"summary": "Turn the cart into an order", "responses": {"201": _LEGACY}}
        },
        "/users/{user_id}/orders": {
            "get": {"summary": "A user's orders, newest first", "responses": {"200": _LEGACY}}
        },
        "/orders/{order_id}": {"get": {"summary": "One order", "responses": {"200": _LEGACY}}},
        "/orders/{order_id}/cancel": {
            "post": {"summary": "Refund, restock, and cancel", "responses": {"200": _LEGACY}}
        },
        "/v2/checkouts": {
            "post": {
                "summary": "Turn a user's cart into an order, once per key",
                "parameters": [_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["user_id", "card_token"],
                                "additionalProperties": False,
                                "properties": {
                                    "user_id": {"type": "integer", "minimum": 1},
                                    "card_token": {"type": "string", "maxLength": 255},
                                    "discount_code": {"type": "string", "maxLength": 32},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _answer("placed", _ORDER),
                    **{code: _PROBLEM for code in ("400", "402", "404", "409", "422", "502")},
                },
            }
        },
        "/v2/orders": {
            "get": {
                "summary": "A user's live orders, newest first, by cursor pages",
                "parameters": [
                    {"name": "user_id", "in": "query", "required": True},
                    {"name": "limit", "in": "query", "schema": {"maximum": 100}},
                    {"name": "cursor", "in": "query"},
                ],
                "responses": {
                    "200": _answer(
                        "a page; `next` is the cursor of the next one",
                        {
                            "type": "object",
                            "properties": {
                                "orders": {"type": "array", "items": _ORDER},
                                "next": {"type": ["string", "null"]},
                            },
                        },
                    ),
                    "304": {"description": "unchanged (If-None-Match)"},
                    "400": _PROBLEM,
                    "404": _PROBLEM,
                },
            }
        },
        "/v2/orders/{order_id}": {
            "get": {
                "summary": "One live order by UUID",
                "responses": {"200": _answer("the order", _ORDER), "404": _PROBLEM},
            }
        },
        "/v2/orders/{order_id}/cancellation": {
            "post": {
                "summary": "Refund in full, restock, and take the order off the books",
                "parameters": [_KEY],
                "responses": {
                    "200": {"description": "cancelled"},
                    "404": _PROBLEM,
                    "502": _PROBLEM,
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Order": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "legacy_id": {"type": "integer"},
                    "user_id": {"type": "integer"},
                    "status": {"type": "string"},
                    "items": {"type": "array"},
                    "total_cents": {"type": "integer"},
                    "payment_id": {"type": ["string", "null"], "format": "uuid"},
                    "charge_id": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            }
        }
    },
}
