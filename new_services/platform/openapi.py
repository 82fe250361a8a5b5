"""OpenAPI pieces every service's document shares: the Idempotency-Key and dry-run headers,
paging and sorting, and the problem+json answer (each service's `openapi.py` holds its own
paths)."""

from __future__ import annotations

from typing import Any

from new_services.platform.http import DEFAULT_PAGE, MAX_PAGE, NEWEST_FIRST, OLDEST_FIRST

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Same key and body: the stored answer. Same key, other body: 422. "
    "While the first request runs: 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
DRY_RUN: dict[str, Any] = {
    "name": "X-Strangler-Shadow",
    "in": "header",
    "description": "`dry-run`: check and answer as usual, write nothing, keep no key.",
    "schema": {"enum": ["dry-run"]},
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
        "description": "The `next` of the page before, as given.",
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
PROBLEM_REF: dict[str, Any] = {"$ref": "#/components/responses/Problem"}
PROBLEM_RESPONSES: dict[str, Any] = {
    "Problem": {
        "description": "RFC 9457 problem; `type` is stable: urn:strangler-kit:problem:*",
        "content": {
            "application/problem+json": {
                "schema": {"type": "object", "required": ["type", "title", "status", "detail"]}
            }
        },
    }
}


def json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
