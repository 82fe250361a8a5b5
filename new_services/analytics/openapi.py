"""The analytics service's OpenAPI document for v2 (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from new_services.analytics.model import MAX_V2_DAYS, TOP_PRODUCTS
from new_services.platform.openapi import PROBLEM_RESPONSES

_DAY = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_COUNT = {"type": "integer"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "strangler kit: analytics", "version": "2"},
    "paths": {
        "/v2/reports/sales": {
            "get": {
                "summary": "Sales of the orders placed in a range of UTC days, and not cancelled",
                "description": "Read from aggregates kept from the order events, so a sale "
                "shows a moment after its checkout. ETag and If-None-Match.",
                "parameters": [
                    {
                        "name": "from",
                        "in": "query",
                        "required": True,
                        "description": "First day, included",
                        "schema": _DAY,
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "required": True,
                        "description": f"Last day, included; at most {MAX_V2_DAYS} days "
                        "after `from` counting both",
                        "schema": _DAY,
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the report",
                        "headers": {"ETag": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SalesReport"}
                            }
                        },
                    },
                    "304": {"description": "unchanged since the ETag in If-None-Match"},
                    "400": {"$ref": "#/components/responses/Problem"},
                },
            }
        }
    },
    "components": {
        "schemas": {
            "SalesReport": {
                "type": "object",
                "required": [
                    "from",
                    "to",
                    "order_count",
                    "revenue_cents",
                    "units_sold",
                    "top_products",
                ],
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
                        "items": {"$ref": "#/components/schemas/ProductSales"},
                    },
                },
            },
            "ProductSales": {
                "type": "object",
                "required": ["product_id", "name", "units", "revenue_cents"],
                "properties": {
                    "product_id": _COUNT,
                    "name": {"type": "string", "description": "As on its latest order"},
                    "units": _COUNT,
                    "revenue_cents": {**_COUNT, "description": "Unit price times units"},
                },
            },
        },
        "responses": PROBLEM_RESPONSES,
    },
}
