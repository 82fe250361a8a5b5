"""The HTTP edge both stand-ins share: bounded body reads, their JSON error format, and the
run-time config endpoints (`GET|PUT /_admin/config`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any, Protocol, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ExceptionHandler

log = logging.getLogger(__name__)

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


class Tuned(Protocol):
    """Whatever holds the live config (the SMTP handler, the fault injector): a frozen
    dataclass with `as_json()` and `updated(changes)` that validates itself."""

    config: Any


T = TypeVar("T")


def partial_update(config: T, changes: object, error: Callable[[str], Exception]) -> T:
    """`config` with the fields a `PUT /_admin/config` body names replaced (and re-validated)."""
    if not isinstance(changes, dict):
        raise error("body must be a JSON object")
    known = {field.name for field in fields(config)}  # type: ignore[arg-type]
    for name in changes:
        if name not in known:
            raise error(f"unknown field: {name}")
    return replace(config, **changes)  # type: ignore[type-var]


def config_routes(
    holder: Tuned,
    label: str,
    invalid: Callable[[str], Exception],
    too_large: Callable[[str], Exception],
    config_error: type[Exception],
) -> list[Route]:
    """`GET` and `PUT /_admin/config` on `holder.config`, so fault tests need no restart."""

    async def get_config(_: Request) -> Response:
        return JSONResponse(holder.config.as_json())

    async def put_config(request: Request) -> Response:
        try:
            changes = json.loads(await read_body(request, too_large))
        except (ValueError, RecursionError) as exc:
            raise invalid("request body must be valid JSON") from exc
        try:
            holder.config = holder.config.updated(changes)
        except config_error as exc:
            raise invalid(str(exc)) from exc
        log.info("%s config is now %s", label, holder.config)
        return JSONResponse(holder.config.as_json())

    return [
        Route("/_admin/config", get_config, methods=["GET"]),
        Route("/_admin/config", put_config, methods=["PUT"]),
    ]
