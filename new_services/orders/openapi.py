"""The orders service's OpenAPI document. v1 is the legacy contract (`legacy_app/API.md`),
described here by path only; v2 comes with its own schemas."""

from __future__ import annotations

from typing import Any

from new_services.platform.openapi import (
    IDEMPOTENCY_KEY,
    PAGING,
    PROBLEM_REF,
    PROBLEM_RESPONSES,
    TIME_SORT,
    json_answer,
)

_LEGACY = {"description": "as legacy_app/API.md says"}
_ORDER = {"$ref": "#/components/schemas/Order"}
_PAGE_OF_ORDERS = json_answer(
    "a page; `next` is the cursor of the next one",
    {
        "type": "object",
        "properties": {
            "orders": {"type": "array", "items": _ORDER},
            "next": {"type": ["string", "null"]},
        },
    },
)


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
                "parameters": [IDEMPOTENCY_KEY],
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
                    "201": json_answer("placed", _ORDER),
                    **{code: PROBLEM_REF for code in ("400", "402", "404", "409", "422", "502")},
                },
            }
        },
        "/v2/orders": {
            "get": {
                "summary": "A user's live orders in time order, by cursor pages",
                "parameters": [
                    {"name": "user_id", "in": "query", "required": True},
                    *PAGING,
                    TIME_SORT,
                ],
                "responses": {
                    "200": _PAGE_OF_ORDERS,
                    "304": {"description": "unchanged (If-None-Match)"},
                    "400": PROBLEM_REF,
                    "404": PROBLEM_REF,
                },
            }
        },
        "/v2/orders/{order_id}": {
            "get": {
                "summary": "One live order by UUID",
                "responses": {"200": json_answer("the order", _ORDER), "404": PROBLEM_REF},
            }
        },
        "/v2/orders/{order_id}/cancellation": {
            "post": {
                "summary": "Refund in full, restock, and take the order off the books",
                "parameters": [IDEMPOTENCY_KEY],
                "responses": {
                    "200": {"description": "cancelled"},
                    "202": {
                        "description": (
                            "under way (status `cancelling`): the refund may have happened and "
                            "its answer was lost; the service finishes the cancellation itself, "
                            "and a retry with the same key answers how it ended"
                        )
                    },
                    "404": PROBLEM_REF,
                    "502": PROBLEM_REF,
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
                "parameters": PAGING,
                "responses": {
                    "200": _PAGE_OF_ORDERS,
                    "400": PROBLEM_REF,
                },
            }
        },
    },
    "components": {
        "responses": PROBLEM_RESPONSES,
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
        },
    },
}
