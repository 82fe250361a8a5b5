"""The payments service's OpenAPI document (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from new_services.platform.openapi import (
    IDEMPOTENCY_KEY,
    PAGING,
    PROBLEM_REF,
    PROBLEM_RESPONSES,
    TIME_SORT,
)

_PROBLEM = PROBLEM_REF
_KEY = IDEMPOTENCY_KEY
_REF = {"type": "string", "pattern": "^[A-Za-z0-9_\\-:]{1,64}$"}  # order refs, charge ids
_ID = {
    "name": "payment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "strangler kit: payments", "version": "2"},
    "paths": {
        "/v2/payments": {
            "post": {
                "summary": "Charge an order once",
                "parameters": [_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ChargeOrder"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "charged",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Payment"}}
                        },
                    },
                    "400": _PROBLEM,
                    "402": _PROBLEM,
                    "409": _PROBLEM,
                    "413": _PROBLEM,
                    "422": _PROBLEM,
                    "502": _PROBLEM,
                    "503": _PROBLEM,
                },
            },
            "get": {
                "summary": "Payments in time order, by cursor pages",
                "parameters": [
                    *PAGING,
                    TIME_SORT,
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "only the payments in this status",
                        "schema": {
                            "enum": [
                                "pending",
                                "captured",
                                "partially_refunded",
                                "refunded",
                                "voided",
                            ]
                        },
                    },
                ],
                "responses": {
                    "200": {"description": "a page; `next` is the cursor of the next one"},
                    "400": _PROBLEM,
                },
            },
        },
        "/v2/payments/{payment_id}": {
            "get": {
                "summary": "One payment (ETag, If-None-Match)",
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "the payment"},
                    "304": {"description": "unchanged"},
                    "404": _PROBLEM,
                },
            }
        },
        "/v2/payments/{payment_id}/refunds": {
            "post": {
                "summary": "Refund part or all of a payment",
                "parameters": [_ID, _KEY],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"amount_cents": {"type": "integer", "minimum": 1}},
                                "additionalProperties": False,
                            }
                        }
                    }
                },
                "responses": {
                    "201": {"description": "refunded"},
                    "202": {
                        "description": (
                            "under way: the provider's answer was lost, the refund is pending; "
                            "a retry with the same key, or the settler, finishes it"
                        )
                    },
                    "400": _PROBLEM,
                    "404": _PROBLEM,
                    "409": _PROBLEM,
                    "422": _PROBLEM,
                    "502": _PROBLEM,
                    "503": _PROBLEM,
                },
            }
        },
        "/v2/payments/{payment_id}/abandonment": {
            "post": {
                "summary": "Give up a captured payment whose order was never placed",
                "description": (
                    "For the orders service's settler, once it has decided the order is "
                    "never placed (its checkout died after the charge): the payment becomes "
                    "voided and what is left of it is refunded, once; a retry of its checkout "
                    "then hears it was given up. Asking again answers the same."
                ),
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "the payment, voided"},
                    "400": _PROBLEM,
                    "404": _PROBLEM,
                    "409": _PROBLEM,
                },
            }
        },
        "/v2/adopted-charges/{charge_id}": {
            "put": {
                "summary": "Take over a charge the legacy shop made, so it can be refunded here",
                "description": (
                    "Amounts and refunds so far come from the provider's record of the "
                    "charge. The charge names its one payment: repeating the call answers "
                    "the same payment; a charge or order that has another gets 409."
                ),
                "parameters": [
                    {
                        "name": "charge_id",
                        "in": "path",
                        "required": True,
                        "schema": _REF,
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["order_ref"],
                                "additionalProperties": False,
                                "properties": {"order_ref": _REF},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the charge's payment",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Payment"}}
                        },
                    },
                    "400": _PROBLEM,
                    "409": _PROBLEM,
                    "502": _PROBLEM,
                },
            }
        },
    },
    "components": {
        "schemas": {
            "ChargeOrder": {
                "type": "object",
                "required": ["order_ref", "amount_cents", "card_token"],
                "additionalProperties": False,
                "properties": {
                    "order_ref": _REF,
                    "amount_cents": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                    "currency": {"type": "string", "pattern": "^[a-z]{3}$", "default": "usd"},
                    "card_token": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": {"type": "string", "minLength": 1, "maxLength": 300},
                },
            },
            "Payment": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "order_ref": {"type": "string"},
                    "amount_cents": {"type": "integer"},
                    "currency": {"type": "string"},
                    "status": {
                        "enum": [
                            "pending",
                            "captured",
                            "partially_refunded",
                            "refunded",
                            "voided",
                        ]
                    },
                    "provider_charge_id": {"type": ["string", "null"]},
                    "refunded_cents": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                },
            },
        },
        "responses": PROBLEM_RESPONSES,
    },
}
