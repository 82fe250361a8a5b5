"""The analytics service's OpenAPI document (served at /openapi.json). v1 is the legacy
contract (legacy_app/API.md), described here by path, parameters and statuses."""

from __future__ import annotations

from typing import Any

from new_services.analytics.model import MAX_V2_DAYS, TOP_PRODUCTS
from new_services.platform.openapi import (
    ETAG,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    document,
    json_answer,
    legacy,
    problems,
    ref,
)

_DAY = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_COUNT = {"type": "integer"}


def _day(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "description": description,
        "schema": schema,
    }


_PATHS: dict[str, Any] = {
    "/reports/sales": {
        "get": legacy(
            "Sales of the orders placed in a range of UTC days, and not cancelled",
            {"200": "the report", "400": "validation_error"},
            [
                _day("from", "First day, included (YYYY-MM-DD)", {"type": "string"}),
                _day("to", "Last day, included (YYYY-MM-DD)", {"type": "string"}),
            ],
        )
    },
    "/v2/reports/sales": {
        "get": {
            "summary": "Sales of the orders placed in a range of UTC days, and not cancelled",
            "description": "Read from aggregates kept from the order events, so a sale "
            "shows a moment after its checkout. ETag and If-None-Match.",
            "tags": ["v2"],
            "parameters": [
                _day("from", "First day, included", _DAY),
                _day(
                    "to",
                    f"Last day, included; at most {MAX_V2_DAYS} days after `from` counting both",
                    _DAY,
                ),
                IF_NONE_MATCH,
            ],
            "responses": {
                "200": json_answer(
                    "the report",
                    ref("SalesReport"),
                    {**ETAG, "Cache-Control": {"schema": {"const": "no-cache"}}},
                ),
                "304": NOT_MODIFIED,
                **problems("400"),
            },
        }
    },
}

_SCHEMAS: dict[str, Any] = {
    "SalesReport": {
        "type": "object",
        "required": ["from", "to", "order_count", "revenue_cents", "units_sold", "top_products"],
        "additionalProperties": False,
        "properties": {
            "from": _DAY,
            "to": _DAY,
            "order_count": _COUNT,
            "revenue_cents": {
                **_COUNT,
                "description": "Order totals: discounts, shipping and tax included",
            },
            "units_sold": _COUNT,
            "top_products": {
                "type": "array",
                "maxItems": TOP_PRODUCTS,
                "description": "By revenue, then product id",
                "items": ref("ProductSales"),
            },
        },
    },
    "ProductSales": {
        "type": "object",
        "required": ["product_id", "name", "units", "revenue_cents"],
        "additionalProperties": False,
        "properties": {
            "product_id": _COUNT,
            "name": {"type": "string", "description": "As on its latest order"},
            "units": _COUNT,
            "revenue_cents": {**_COUNT, "description": "Unit price times units"},
        },
    },
}

OPENAPI: dict[str, Any] = document(
    "analytics",
    "The sales report, read from the analytics worker's aggregates. v1: the legacy shop's "
    "path (legacy_app/API.md); v2: problem+json, ETags, at most "
    f"{MAX_V2_DAYS} days a report.",
    _PATHS,
    _SCHEMAS,
)
