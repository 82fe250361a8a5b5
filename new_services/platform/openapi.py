"""OpenAPI pieces every service's document shares: the Idempotency-Key header, paging and
sorting, path parameters, the problem+json answer, the legacy (v1) answers and the service
paths every app serves (each service's `openapi.py` holds its own paths).

The documents are kept by hand and tested against the apps (tests/security/test_openapi.py:
valid, every route documented, real answers match) and fuzzed (tests/security/test_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from new_services.platform.http import (
    DEFAULT_PAGE,
    MAX_BODY_BYTES,
    MAX_PAGE,
    NEWEST_FIRST,
    OLDEST_FIRST,
)
from new_services.platform.idempotency import MAX_KEY_CHARS
from new_services.platform.problems import TYPE_PREFIX
from new_services.platform.v1 import MAX_ID

TEXT_RULES = (
    "Every `integer` may be written with a zero fraction (`18174.0`), as JSON Schema counts "
    "it. No text in a body may hold a NUL (U+0000): 400."
)
INTERNAL_HEADERS = (
    "The gateway's internal headers (`X-Strangler-Shadow` and what proves it) are not part "
    "of this contract: the gateway strips them from clients' requests."
)
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Same key and body: the stored answer. Same key, other body: 422. "
    "While the first request runs: 409. A 400, 413, 202 or 5xx answer is not kept.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS},
}
PAGING: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "The `next` of the page before, as given; any other: 400.",
        "schema": {"type": "string"},
    },
]
TIME_SORT: dict[str, Any] = {
    "name": "sort",
    "in": "query",
    "description": "Newest first (the default) or oldest first: the two orders the list's "
    "index serves. A cursor continues the sort it was given for.",
    "schema": {"enum": [NEWEST_FIRST, OLDEST_FIRST], "default": NEWEST_FIRST},
}
IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "description": "An ETag this answer had: 304 while it is unchanged.",
    "schema": {"type": "string"},
}
ETAG = {"ETag": {"schema": {"type": "string"}}}
NOT_MODIFIED: dict[str, Any] = {"description": "unchanged since the ETag in If-None-Match"}
UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
# an id of the legacy database: a positive 64-bit integer (larger ones name nothing)
LEGACY_ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
PROBLEM_REF: dict[str, Any] = {"$ref": "#/components/responses/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": f"^{TYPE_PREFIX}[a-z0-9-]+$"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
    },
    "description": "Some types add fields of their own (e.g. `product_id`).",
}
PROBLEM_RESPONSES: dict[str, Any] = {
    "Problem": {
        "description": "RFC 9457 problem; `type` is stable: urn:strangler-kit:problem:*",
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
    },
    "LegacyError": {
        "description": "the legacy error body (legacy_app/API.md)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                }
            }
        },
    },
}
# what any operation reading a body may answer besides its own: a body that is not a JSON
# object (400), larger than MAX_BODY_BYTES (413), or not sent as JSON (415)
BODY_PROBLEMS = ("400", "413", "415")


def problems(*codes: str) -> dict[str, Any]:
    """`{code: the problem+json answer}` for each status code."""
    return {code: PROBLEM_REF for code in codes}


def json_answer(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def ref(schema: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema}"}


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "description": f"JSON, at most {MAX_BODY_BYTES} bytes",
        "content": {"application/json": {"schema": schema}},
    }


def uuid_path(name: str, description: str | None = None) -> dict[str, Any]:
    """A UUID in the path; anything else names nothing (404)."""
    parameter = {"name": name, "in": "path", "required": True, "schema": UUID}
    if description:
        parameter["description"] = description
    return parameter


def int_path(name: str) -> dict[str, Any]:
    """A v1 integer in the path (digits only; anything else is no route: 404)."""
    schema = {"type": "integer", "minimum": 0}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def legacy(summary: str, answers: dict[str, str], parameters: list[Any] | None = None) -> Any:
    """A v1 operation: `answers` maps each status to what it means; the shapes are the
    legacy shop's (legacy_app/API.md), its errors the legacy `{"error", "message"}`."""
    responses: dict[str, Any] = {}
    for code, meaning in answers.items():
        if code.startswith(("4", "5")):
            responses[code] = {**PROBLEM_RESPONSES["LegacyError"], "description": meaning}
        else:
            responses[code] = {"description": f"{meaning} (legacy_app/API.md)"}
    operation: dict[str, Any] = {"summary": summary, "tags": ["v1"], "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    return operation


SERVICE_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Up",
            "tags": ["service"],
            "responses": {
                "200": json_answer(
                    "the process answers",
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"const": "ok"}},
                    },
                )
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "tags": ["service"],
            "responses": {
                "200": {
                    "description": "text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["service"],
            "responses": {"200": json_answer("OpenAPI 3.1", {"type": "object"})},
        }
    },
}


def document(title: str, description: str, paths: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """A service's whole document: its paths, the service paths, the shared components."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"strangler kit: {title}",
            "version": "2",
            "description": f"{description}\n\n{TEXT_RULES}\n\n{INTERNAL_HEADERS}",
        },
        "paths": {**paths, **SERVICE_PATHS},
        "components": {"schemas": schemas, "responses": PROBLEM_RESPONSES},
    }
