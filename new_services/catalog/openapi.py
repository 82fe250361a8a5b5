"""The catalog service's OpenAPI document (served at /openapi.json). v1 (`/products...`) is
the legacy contract (legacy_app/API.md), described here by path, parameters and statuses;
v2 comes with its own schemas."""

from __future__ import annotations

from typing import Any

from new_services.catalog.model import MAX_LINES, MAX_PRICE_CENTS, MAX_STOCK, SKU
from new_services.platform.http import MAX_PAGE
from new_services.platform.openapi import (
    BODY_PROBLEMS,
    ETAG,
    IDEMPOTENCY_KEY,
    IF_NONE_MATCH,
    LEGACY_ID,
    NOT_MODIFIED,
    PAGING,
    TIME,
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

_PRODUCT_ID = uuid_path("product_id", "The product's UUID (`id`); anything else: 404.")
_HOLD_ID = uuid_path("hold_id", "Chosen by the caller (orders: the draft order's UUID).")
_NAME = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
_PRICE = {"type": "integer", "minimum": 0, "maximum": MAX_PRICE_CENTS}
_STOCK = {"type": "integer", "minimum": 0, "maximum": MAX_STOCK}
_SKU = {"type": "string", "pattern": SKU.pattern}
_FOR_PRODUCT = {
    "description": "names the product, where one is at fault",
    "content": {
        "application/problem+json": {
            "schema": {
                "allOf": [
                    {"$ref": "#/components/schemas/Problem"},
                    {"properties": {"product_id": LEGACY_ID}},
                ]
            }
        }
    },
}

_V1: dict[str, Any] = {
    "/products": {
        "get": legacy("Every product, by id", {"200": "`{products: [product, ...]}`"}),
        "post": {
            **legacy(
                "Create a product",
                {
                    "201": "the product",
                    "400": "invalid_json, validation_error",
                    "409": "sku_taken",
                    "413": "payload_too_large",
                },
            ),
            "requestBody": json_body(ref("NewProduct")),
        },
    },
    "/products/{product_id}": {
        "get": legacy(
            "One product",
            {"200": "the product", "404": "product_not_found"},
            [int_path("product_id")],
        ),
        "patch": {
            **legacy(
                "Change name, price_cents and/or stock",
                {
                    "200": "the product",
                    "400": "invalid_json, validation_error",
                    "404": "product_not_found",
                    "413": "payload_too_large",
                },
                [int_path("product_id")],
            ),
            "requestBody": json_body(ref("ProductChange")),
        },
        "delete": legacy(
            "Delete: gone from every cart",
            {"204": "deleted, no body", "404": "product_not_found"},
            [int_path("product_id")],
        ),
    },
}

_HOLD_MOVE: dict[str, Any] = {
    "tags": ["internal"],
    "parameters": [_HOLD_ID],
    "responses": {
        "200": json_answer("the hold, in its state now", ref("Hold")),
        **problems("404", "503"),
    },
}

_V2: dict[str, Any] = {
    "/v2/products": {
        "get": {
            "summary": "Live products by legacy id, paged; filters legacy_id and sku",
            "tags": ["v2"],
            "parameters": [
                *PAGING,
                {
                    "name": "legacy_id",
                    "in": "query",
                    "description": f"Repeatable, up to {MAX_PAGE}; unknown and deleted are absent.",
                    "schema": {"type": "array", "maxItems": MAX_PAGE, "items": LEGACY_ID},
                    "style": "form",
                    "explode": True,
                },
                {"name": "sku", "in": "query", "schema": _SKU},
                IF_NONE_MATCH,
            ],
            "responses": {
                "200": json_answer(
                    "a page; `next` is the cursor of the next one", ref("ProductPage"), ETAG
                ),
                "304": NOT_MODIFIED,
                **problems("400"),
            },
        },
        "post": {
            "summary": "Create a product",
            "tags": ["v2"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("NewProduct")),
            "responses": {
                "201": json_answer(
                    "created", ref("Product"), {"Location": {"schema": {"type": "string"}}}
                ),
                **problems(*BODY_PROBLEMS, "409", "422", "503"),
            },
        },
    },
    "/v2/products/{product_id}": {
        "get": {
            "summary": "One product (ETag, If-None-Match)",
            "tags": ["v2"],
            "parameters": [
                _PRODUCT_ID,
                IF_NONE_MATCH,
                {
                    "name": "Cache-Control",
                    "in": "header",
                    "description": "`no-cache`: read from the database, not the cache",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": json_answer("the product", ref("Product"), ETAG),
                "304": NOT_MODIFIED,
                **problems("404"),
            },
        },
        "patch": {
            "summary": "Change name, price_cents and/or stock",
            "tags": ["v2"],
            "parameters": [_PRODUCT_ID],
            "requestBody": json_body(ref("ProductChange")),
            "responses": {
                "200": json_answer("changed", ref("Product")),
                **problems(*BODY_PROBLEMS, "404", "503"),
            },
        },
        "delete": {
            "summary": "Soft-delete: 404 from then on, never sold; the sku stays taken",
            "tags": ["v2"],
            "parameters": [_PRODUCT_ID],
            "responses": {"204": {"description": "deleted"}, **problems("404", "503")},
        },
    },
    "/v2/holds/{hold_id}": {
        "put": {
            "summary": "Hold stock for every line, all or none",
            "tags": ["internal"],
            "parameters": [_HOLD_ID],
            "requestBody": json_body(ref("Lines")),
            "responses": {
                "201": json_answer("held now", ref("Hold")),
                "200": json_answer("the hold existed: nothing more held", ref("Hold")),
                **problems(*BODY_PROBLEMS, "503"),
                "409": {**_FOR_PRODUCT, "description": "out-of-stock: nothing held"},
                "422": {
                    **_FOR_PRODUCT,
                    "description": "product-unavailable (deleted or unknown): nothing held; "
                    "hold-mismatch: the hold exists with other lines",
                },
            },
        },
        "get": {
            "summary": "One hold",
            "tags": ["internal"],
            "parameters": [_HOLD_ID],
            "responses": {"200": json_answer("the hold", ref("Hold")), **problems("404")},
        },
    },
    "/v2/holds/{hold_id}/release": {
        "post": {**_HOLD_MOVE, "summary": "Put the units back (a committed hold stays)"}
    },
    "/v2/holds/{hold_id}/commit": {
        "post": {
            **_HOLD_MOVE,
            "summary": "The order is placed: the units stay sold",
            "responses": {**_HOLD_MOVE["responses"], **problems("409")},
        }
    },
    "/v2/restocks": {
        "post": {
            "summary": "Put units back once per key (deleted products are skipped)",
            "tags": ["internal"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("Lines")),
            "responses": {
                "201": json_answer("restocked", ref("Restock")),
                **problems(*BODY_PROBLEMS, "409", "422", "503"),
            },
        }
    },
}

_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    },
    "NewProduct": {
        "type": "object",
        "required": ["sku", "name", "price_cents", "stock"],
        "additionalProperties": False,
        "properties": {"sku": _SKU, "name": _NAME, "price_cents": _PRICE, "stock": _STOCK},
    },
    "ProductChange": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {"name": _NAME, "price_cents": _PRICE, "stock": _STOCK},
    },
    "Product": {
        "type": "object",
        "required": [
            "id",
            "legacy_id",
            "sku",
            "name",
            "price_cents",
            "stock",
            "created_at",
            "updated_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "legacy_id": {
                **LEGACY_ID,
                "minimum": 0,
                "description": "0 in a dry run's answer: nothing was made",
            },
            "sku": _SKU,
            "name": {"type": "string"},
            "price_cents": _PRICE,
            "stock": _STOCK,
            "created_at": TIME,
            "updated_at": TIME,
        },
    },
    "ProductPage": {
        "type": "object",
        "required": ["products", "next"],
        "additionalProperties": False,
        "properties": {
            "products": {"type": "array", "items": ref("Product")},
            "next": {"type": ["string", "null"]},
        },
    },
    "Line": {
        "type": "object",
        "required": ["product_id", "quantity"],
        "additionalProperties": False,
        "properties": {
            "product_id": {**LEGACY_ID, "description": "legacy id"},
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_STOCK},
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
                "maxItems": MAX_LINES,
                "uniqueItems": True,
                "description": "one line per product: a product in two lines is refused "
                "(400), whatever their quantities",
                "items": ref("Line"),
            }
        },
    },
    "Hold": {
        "type": "object",
        "required": ["id", "state", "lines"],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "state": {"enum": ["held", "committed", "released"]},
            "lines": {"type": "array", "items": ref("Line")},
        },
    },
    "Restock": {
        "type": "object",
        "required": ["id", "lines", "skipped"],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "lines": {"type": "array", "items": ref("Line")},
            "skipped": {"type": "array", "items": LEGACY_ID},
        },
    },
}

OPENAPI: dict[str, Any] = document(
    "catalog",
    "Products, stock holds that never oversell, restocks. v1: the legacy shop's paths "
    "(legacy_app/API.md); v2: UUIDs, cursor pages, ETags, problem+json, Idempotency-Key. "
    "Holds and restocks are internal (the orders service's): the gateway has no route to "
    "them.",
    {**_V1, **_V2},
    _SCHEMAS,
)
