"""The users service's OpenAPI document (served at /openapi.json). v1 (`/users...`) is the
legacy contract (legacy_app/API.md), described here by path, parameters and statuses; v2
comes with its own schemas."""

from __future__ import annotations

from typing import Any

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
from new_services.users.model import EMAIL, MAX_EMAIL, MAX_NAME, NAME

_USER_ID = uuid_path("user_id", "The user's UUID (`id`); anything else: 404.")
_EMAIL = {
    "type": "string",
    "maxLength": MAX_EMAIL,
    "pattern": EMAIL.pattern,
    "description": "An address: kept trimmed and lower-cased, and unique whatever its case.",
}
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": NAME.pattern}

_V1: dict[str, Any] = {
    "/users": {
        "post": {
            **legacy(
                "Sign up",
                {
                    "201": "the user",
                    "400": "invalid_json, validation_error",
                    "409": "email_taken",
                    "413": "payload_too_large",
                    "415": "unsupported_media_type",
                },
            ),
            "requestBody": json_body(ref("NewUser")),
        },
    },
    "/users/{user_id}": {
        "get": legacy(
            "One user", {"200": "the user", "404": "user_not_found"}, [int_path("user_id")]
        ),
    },
}

_V2: dict[str, Any] = {
    "/v2/users": {
        "get": {
            "summary": "Users by legacy id, paged; filters legacy_id and email",
            "tags": ["v2"],
            "parameters": [
                *PAGING,
                {
                    "name": "legacy_id",
                    "in": "query",
                    "description": f"Repeatable, up to {MAX_PAGE}; unknown ones are absent.",
                    "schema": {"type": "array", "maxItems": MAX_PAGE, "items": LEGACY_ID},
                    "style": "form",
                    "explode": True,
                },
                {
                    "name": "email",
                    "in": "query",
                    "description": "The account with this address, in any case.",
                    "schema": _EMAIL,
                },
                IF_NONE_MATCH,
            ],
            "responses": {
                "200": json_answer(
                    "a page; `next` is the cursor of the next one", ref("UserPage"), ETAG
                ),
                "304": NOT_MODIFIED,
                **problems("400"),
            },
        },
        "post": {
            "summary": "Sign up",
            "description": "The address is kept lower-cased: one that is taken in any case "
            "is 409. An address that lower-cases past "
            f"{MAX_EMAIL} characters (a few letters become two) is 400.",
            "tags": ["v2"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("NewUser")),
            "responses": {
                "201": json_answer(
                    "signed up", ref("User"), {"Location": {"schema": {"type": "string"}}}
                ),
                **problems(*BODY_PROBLEMS, "409", "422", "503"),
            },
        },
    },
    "/v2/users/{user_id}": {
        "get": {
            "summary": "One user (ETag, If-None-Match)",
            "tags": ["v2"],
            "parameters": [_USER_ID, IF_NONE_MATCH],
            "responses": {
                "200": json_answer("the user", ref("User"), ETAG),
                "304": NOT_MODIFIED,
                **problems("404"),
            },
        },
    },
}

_SCHEMAS: dict[str, Any] = {
    "NewUser": {
        "type": "object",
        "required": ["email", "name"],
        "additionalProperties": False,
        "properties": {"email": _EMAIL, "name": _NAME},
    },
    "User": {
        "type": "object",
        "required": ["id", "legacy_id", "email", "name", "created_at"],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "legacy_id": {
                **LEGACY_ID,
                "minimum": 0,
                "description": "0 in a dry run's answer: nothing was made",
            },
            "email": {"type": "string"},
            "name": {"type": "string"},
            "created_at": TIME,
        },
    },
    "UserPage": {
        "type": "object",
        "required": ["users", "next"],
        "additionalProperties": False,
        "properties": {
            "users": {"type": "array", "items": ref("User")},
            "next": {"type": ["string", "null"]},
        },
    },
}

OPENAPI: dict[str, Any] = document(
    "users",
    "Accounts: sign-up and look-up. v1: the legacy shop's paths (legacy_app/API.md); v2: "
    "UUIDs, cursor pages, ETags, problem+json, Idempotency-Key.",
    {**_V1, **_V2},
    _SCHEMAS,
)
