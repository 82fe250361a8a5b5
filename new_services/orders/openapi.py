"""The orders service's OpenAPI document. v1 is the legacy contract (`legacy_app/API.md`),
described here by path only; v2 comes with its own schemas."""

from __future__ import annotations

from typing import Any

_LEGACY = {"description": "as legacy_app/API.md says"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "strangler kit: orders", "version": "1"},
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
    },
}
