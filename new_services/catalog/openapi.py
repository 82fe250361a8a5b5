"""The catalog service's OpenAPI document for v2 (served at /openapi.json).

v1 (`/products...`) is the legacy contract, documented in legacy_app/API.md.
"""

from __future__ import annotations

from typing import Any

from new_services.platform.openapi import (
    DRY_RUN,
    IDEMPOTENCY_KEY,
    PAGING,
    PROBLEM_REF,
    PROBLEM_RESPONSES,
)

_PROBLEM = PROBLEM_REF
_DRY_RUN = DRY_RUN
_KEY = IDEMPOTENCY_KEY
_PRODUCT_ID = {
    "name": "product_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_HOLD_ID = {
    "name": "hold_id",
    "in": "path",
    "required": True,
    "description": "Chosen by the caller (orders: the draft order's UUID).",
    "schema": {"type": "string", "format": "uuid"},
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _body(schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


_HOLD_MOVE: dict[str, Any] = {
    "parameters": [_HOLD_ID, _DRY_RUN],
    "responses": {"200": _json("Hold", "the hold, in its state now"), "404": _PROBLEM},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "strangler kit: catalog", "version": "2"},
    "paths": {
        "/v2/products": {
            "get": {
                "summary": "Live products by legacy id, paged; filters legacy_id and sku",
                "parameters": [
                    *PAGING,
                    {
                        "name": "legacy_id",
                        "in": "query",
                        "description": "Repeatable, up to 100; unknown and deleted are absent.",
                        "schema": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                        "style": "form",
                        "explode": True,
                    },
                    {"name": "sku", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json("ProductPage", "a page; `next` is the cursor of the next one"),
                    "304": {"description": "unchanged (If-None-Match)"},
                    "400": _PROBLEM,
                },
            },
            "post": {
                "summary": "Create a product",
                "parameters": [_KEY, _DRY_RUN],
                "requestBody": _body("NewProduct"),
                "responses": {
                    "201": _json("Product", "created"),
                    "400": _PROBLEM,
                    "409": _PROBLEM,
                    "413": _PROBLEM,
                    "422": _PROBLEM,
                },
            },
        },
        "/v2/products/{product_id}": {
            "get": {
                "summary": "One product (ETag, If-None-Match)",
                "parameters": [_PRODUCT_ID],
                "responses": {
                    "200": _json("Product", "the product"),
                    "304": {"description": "unchanged"},
                    "404": _PROBLEM,
                },
            },
            "patch": {
                "summary": "Change name, price_cents and/or stock",
                "parameters": [_PRODUCT_ID, _DRY_RUN],
                "requestBody": _body("ProductChange"),
                "responses": {
                    "200": _json("Product", "changed"),
                    "400": _PROBLEM,
                    "404": _PROBLEM,
                },
            },
            "delete": {
                "summary": "Soft-delete: 404 from then on, never sold; the sku stays taken",
                "parameters": [_PRODUCT_ID, _DRY_RUN],
                "responses": {"204": {"description": "deleted"}, "404": _PROBLEM},
            },
        },
        "/v2/holds/{hold_id}": {
            "put": {
                "summary": "Hold stock for every line, all or none",
                "parameters": [_HOLD_ID, _DRY_RUN],
                "requestBody": _body("Lines"),
                "responses": {
                    "201": _json("Hold", "held now"),
                    "200": _json("Hold", "the hold existed: nothing more held"),
                    "400": _PROBLEM,
                    "409": {
                        "description": "out-of-stock, with `product_id`: nothing held",
                        "content": {"application/problem+json": {}},
                    },
                    "422": {
                        "description": "product-unavailable (deleted or unknown), with "
                        "`product_id`: nothing held; hold-mismatch: the hold exists with "
                        "other lines",
                        "content": {"application/problem+json": {}},
                    },
                },
            },
            "get": {
                "summary": "One hold",
                "parameters": [_HOLD_ID],
                "responses": {"200": _json("Hold", "the hold"), "404": _PROBLEM},
            },
        },
        "/v2/holds/{hold_id}/release": {
            "post": {**_HOLD_MOVE, "summary": "Put the units back (a committed hold stays)"}
        },
        "/v2/holds/{hold_id}/commit": {
            "post": {
                **_HOLD_MOVE,
                "summary": "The order is placed: the units stay sold",
                "responses": {**_HOLD_MOVE["responses"], "409": _PROBLEM},
            }
        },
        "/v2/restocks": {
            "post": {
                "summary": "Put units back once per key (deleted products are skipped)",
                "parameters": [_KEY, _DRY_RUN],
                "requestBody": _body("Lines"),
                "responses": {
                    "201": _json("Restock", "restocked"),
                    "400": _PROBLEM,
                    "409": _PROBLEM,
                    "422": _PROBLEM,
                },
            }
        },
    },
    "components": {
        "schemas": {
            "NewProduct": {
                "type": "object",
                "required": ["sku", "name", "price_cents", "stock"],
                "additionalProperties": False,
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "price_cents": {"type": "integer", "minimum": 0, "maximum": 100000000},
                    "stock": {"type": "integer", "minimum": 0, "maximum": 1000000},
                },
            },
            "ProductChange": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "price_cents": {"type": "integer", "minimum": 0, "maximum": 100000000},
                    "stock": {"type": "integer", "minimum": 0, "maximum": 1000000},
                },
            },
            "Product": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "legacy_id": {"type": "integer"},
                    "sku": {"type": "string"},
                    "name": {"type": "string"},
                    "price_cents": {"type": "integer"},
                    "stock": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                },
            },
            "ProductPage": {
                "type": "object",
                "properties": {
                    "products": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Product"},
                    },
                    "next": {"type": ["string", "null"]},
                },
            },
            "Line": {
                "type": "object",
                "required": ["product_id", "quantity"],
                "additionalProperties": False,
                "properties": {
                    "product_id": {"type": "integer", "minimum": 1, "description": "legacy id"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000},
                },
            },
            "Lines": {
                "type": "object",
                "required": ["lines"],
                "additionalProperties": False,
                "properties": {
                    "lines": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "description": "one line per product",
                        "items": {"$ref": "#/components/schemas/Line"},
                    }
                },
            },
            "Hold": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "state": {"enum": ["held", "committed", "released"]},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                },
            },
            "Restock": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                    "skipped": {"type": "array", "items": {"type": "integer"}},
                },
            },
        },
        "responses": PROBLEM_RESPONSES,
    },
}
