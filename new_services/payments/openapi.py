"""The payments service's OpenAPI document (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from new_services.payments.model import MAX_AMOUNT_CENTS, PaymentStatus, RefundStatus
from new_services.platform.openapi import (
    BODY_PROBLEMS,
    ETAG,
    IDEMPOTENCY_KEY,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    PAGING,
    TIME,
    TIME_SORT,
    UUID,
    document,
    json_answer,
    json_body,
    problems,
    ref,
    uuid_path,
)

_REF = {"type": "string", "pattern": "^[A-Za-z0-9_\\-:]{1,64}$"}  # order refs, charge ids
_AMOUNT = {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT_CENTS}
_ID = uuid_path("payment_id", "The payment's UUID; anything else names nothing: 404.")
_LOCATION = {"Location": {"schema": {"type": "string"}}}
_STATUSES = [status.value for status in PaymentStatus]

_PATHS: dict[str, Any] = {
    "/v2/payments": {
        "post": {
            "summary": "Charge an order once",
            "description": "A declined card (402) is a final answer, kept for the key: a "
            "new card needs a new key. Only a provider that did not answer (502, 503) "
            "leaves the key free to retry.",
            "tags": ["v2"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("ChargeOrder")),
            "responses": {
                "201": json_answer("charged", ref("Payment"), _LOCATION),
                **problems(*BODY_PROBLEMS, "402", "409", "422", "502", "503"),
            },
        },
        "get": {
            "summary": "Payments in time order, by cursor pages",
            "tags": ["v2"],
            "parameters": [
                *PAGING,
                TIME_SORT,
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "description": "only the payments in this status",
                    "schema": {"enum": _STATUSES},
                },
                IF_NONE_MATCH,
            ],
            "responses": {
                "200": json_answer(
                    "a page; `next` is the cursor of the next one", ref("PaymentPage"), ETAG
                ),
                "304": NOT_MODIFIED,
                **problems("400"),
            },
        },
    },
    "/v2/payments/{payment_id}": {
        "get": {
            "summary": "One payment (ETag, If-None-Match)",
            "tags": ["v2"],
            "parameters": [_ID, IF_NONE_MATCH],
            "responses": {
                "200": json_answer("the payment", ref("Payment"), ETAG),
                "304": NOT_MODIFIED,
                **problems("404"),
            },
        }
    },
    "/v2/payments/{payment_id}/refunds": {
        "post": {
            "summary": "Refund part or all of a payment",
            "tags": ["v2"],
            "parameters": [_ID, IDEMPOTENCY_KEY],
            "requestBody": json_body(
                {
                    "type": "object",
                    "properties": {"amount_cents": _AMOUNT},
                    "additionalProperties": False,
                    "description": "no amount: all that is left",
                },
                required=False,
            ),
            "responses": {
                "201": json_answer("refunded", ref("Refund")),
                "202": json_answer(
                    "under way: the provider's answer was lost, the refund is pending; a "
                    "retry with the same key, or the settler, finishes it",
                    ref("Refund"),
                ),
                **problems(*BODY_PROBLEMS, "404", "409", "422", "502", "503"),
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
                "then hears it was given up. Asking again answers the same. Takes no body."
            ),
            "tags": ["internal"],
            "parameters": [_ID],
            "responses": {
                "200": json_answer("the payment, voided", ref("Payment")),
                **problems("400", "404", "409", "502", "503"),
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
            "tags": ["internal"],
            "parameters": [{"name": "charge_id", "in": "path", "required": True, "schema": _REF}],
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["order_ref"],
                    "additionalProperties": False,
                    "properties": {"order_ref": _REF},
                }
            ),
            "responses": {
                "200": json_answer("the charge's payment", ref("Payment"), _LOCATION),
                **problems(*BODY_PROBLEMS, "409", "502", "503"),
            },
        }
    },
}

_SCHEMAS: dict[str, Any] = {
    "ChargeOrder": {
        "type": "object",
        "required": ["order_ref", "amount_cents", "card_token"],
        "additionalProperties": False,
        "properties": {
            "order_ref": _REF,
            "amount_cents": _AMOUNT,
            "currency": {"type": "string", "pattern": "^[a-z]{3}$", "default": "usd"},
            "card_token": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": {"type": ["string", "null"], "minLength": 1, "maxLength": 300},
        },
    },
    "Payment": {
        "type": "object",
        "required": [
            "id",
            "order_ref",
            "amount_cents",
            "currency",
            "status",
            "provider_charge_id",
            "refunded_cents",
            "created_at",
            "updated_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "order_ref": {"type": "string"},
            "amount_cents": {"type": "integer", "minimum": 0},
            "currency": {"type": "string"},
            "status": {"enum": _STATUSES},
            "provider_charge_id": {"type": ["string", "null"]},
            "refunded_cents": {"type": "integer", "minimum": 0},
            "created_at": TIME,
            "updated_at": TIME,
        },
    },
    "PaymentPage": {
        "type": "object",
        "required": ["payments", "next"],
        "additionalProperties": False,
        "properties": {
            "payments": {"type": "array", "items": ref("Payment")},
            "next": {"type": ["string", "null"]},
        },
    },
    "Refund": {
        "type": "object",
        "required": [
            "id",
            "payment_id",
            "amount_cents",
            "status",
            "provider_refund_id",
            "created_at",
            "payment",
        ],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "payment_id": UUID,
            "amount_cents": {"type": "integer", "minimum": 0},
            "status": {"enum": [status.value for status in RefundStatus]},
            "provider_refund_id": {"type": ["string", "null"]},
            "created_at": TIME,
            "payment": ref("Payment"),
        },
    },
}

OPENAPI: dict[str, Any] = document(
    "payments",
    "One charge per order and per Idempotency-Key, refunds, and charges the legacy shop "
    "made taken over. Abandonment and adopted charges are internal (the orders service's).",
    _PATHS,
    _SCHEMAS,
)
