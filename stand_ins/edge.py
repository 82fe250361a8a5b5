"""The HTTP edge both stand-ins share: bounded body reads and their JSON error format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

MAX_BODY_BYTES = 64 * 1024
_HTTP_ERROR_TYPES = {404: "not_found", 405: "method_not_allowed"}


class DomainError(Protocol):
    status: int

    def as_body(self) -> dict[str, Any]: ...


async def read_body(request: Request, too_large: Callable[[str], Exception]) -> bytes:
    """The request body, refused once it passes ``MAX_BODY_BYTES`` rather than held in memory."""
    message = f"request bodies are limited to {MAX_BODY_BYTES} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large(message)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large(message)
    return bytes(body)


def error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"error": {"type": error_type, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def exception_handlers(domain: type[Exception], who: str) -> Mapping[Any, ExceptionHandler]:
    """Domain errors, Starlette's HTTP errors and anything unexpected, all as JSON errors."""

    async def on_domain_error(_: Request, exc: Exception) -> Response:
        error: DomainError = exc  # type: ignore[assignment]
        return JSONResponse(error.as_body(), status_code=error.status)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, error_type, exc.detail, headers=exc.headers)

    async def on_unexpected_error(_: Request, exc: Exception) -> Response:
        # ServerErrorMiddleware logs the traceback after this; the client never sees it.
        return error_response(500, "internal_error", f"the {who} hit an unexpected error")

    return {domain: on_domain_error, HTTPException: on_http_error, Exception: on_unexpected_error}
