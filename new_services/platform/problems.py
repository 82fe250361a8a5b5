"""problem+json (RFC 9457): the one error format of every extracted service.

Each error is a `Problem` with a stable `type` (a URN ending in its slug) that clients
may branch on, a `title` that stays the same for the type, and a `detail` for this case.
Domain errors subclass it in their package's `errors.py`; they become HTTP only here.

    Problem
    ├── InvalidRequest            400 invalid-request
    ├── NotFound                  404 not-found
    ├── MethodNotAllowed          405 method-not-allowed
    ├── IdempotencyKeyInUse       409 idempotency-key-in-use
    ├── PayloadTooLarge           413 payload-too-large
    ├── UnsupportedMediaType      415 unsupported-media-type
    ├── IdempotencyKeyReused      422 idempotency-key-reused
    └── (domain errors)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

log = logging.getLogger(__name__)

TYPE_PREFIX = "urn:strangler-kit:problem:"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    status = 500
    slug = "internal-error"
    title = "Internal error"
    # False for a passing condition ("still being paid"): an Idempotency-Key must not
    # replay it once the condition has passed
    lasting = True

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug

    def as_body(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }


class InvalidRequest(Problem):
    status, slug, title = 400, "invalid-request", "The request is not valid"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class IdempotencyKeyInUse(Problem):
    status, slug, title = 409, "idempotency-key-in-use", "A request with this key is in flight"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "The request body is too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "The body must be JSON"


class IdempotencyKeyReused(Problem):
    status, slug, title = 422, "idempotency-key-reused", "The key was used for another request"


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(
        problem.as_body(), status_code=problem.status, headers=headers, media_type=MEDIA_TYPE
    )


def exception_handlers(service: str) -> Mapping[Any, ExceptionHandler]:
    """Problems, Starlette's 404/405 and anything unexpected, all as problem+json."""

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        problem: Problem
        if exc.status_code == 404:
            problem = NotFound(f"no resource at {request.url.path}")
        elif exc.status_code == 405:
            problem = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
        else:
            problem = InvalidRequest(str(exc.detail))
            problem.status = exc.status_code
        return problem_response(problem, headers=exc.headers)

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)  # the client never sees the trace
        return problem_response(Problem(f"the {service} service hit an unexpected error"))

    return {Problem: on_problem, HTTPException: on_http_error, Exception: on_unexpected}
