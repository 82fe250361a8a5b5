"""The v1 wire format: the legacy shop's paths, JSON shapes and errors, kept byte for byte.

v1 exists so the gateway can move a legacy route to a service without any client
noticing (`legacy_app/API.md`). Its errors are `{"error": "<code>", "message": "..."}`
with the legacy status and code, not problem+json. A domain `Problem` raised under a v1
path is turned into that shape (`out-of-stock` becomes `out_of_stock`), so v1 and v2 share
their domain errors and differ only at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard, cast

from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from new_services.platform.http import read_body
from new_services.platform.json_text import lone_surrogate, not_unicode
from new_services.platform.problems import PayloadTooLarge, Problem

MAX_BODY_BYTES = 1024 * 1024  # as the legacy app (Flask's MAX_CONTENT_LENGTH)
MAX_ID = 2**63 - 1  # ids above this name nothing (legacy looks them up as 0)
SERVICE_PATHS = ("/v2/", "/healthz", "/metrics", "/openapi.json")
_HTTP_CODES = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}
_PROBLEM_CODES = {"invalid-request": "validation_error", "payload-too-large": "payload_too_large"}


def legacy_code(problem: Problem) -> str:
    """The legacy error code of a problem: its own `v1_code`, else its slug in snake case."""
    own = getattr(problem, "v1_code", None)
    if isinstance(own, str):
        return own
    return _PROBLEM_CODES.get(problem.slug, problem.slug.replace("-", "_"))


class LegacyError(Exception):
    """An error answered in the legacy shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    return legacy_json({"error": code, "message": message}, status)


def legacy_json(payload: Any, status_code: int = 200) -> Response:
    """`payload` byte for byte as the legacy shop's `jsonify` writes it: compact, keys in
    the given order, non-ASCII as `\\u` escapes, and a final newline."""
    body = json.dumps(payload, separators=(",", ":")) + "\n"
    return Response(body, status_code=status_code, media_type="application/json")


def is_v1(path: str) -> bool:
    return not path.startswith(SERVICE_PATHS)


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or the legacy `400 invalid_json` / `413 payload_too_large`."""
    try:
        raw = await read_body(request, MAX_BODY_BYTES)
    except PayloadTooLarge as exc:
        raise LegacyError(413, "payload_too_large", str(exc)) from exc
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise LegacyError(400, "invalid_json", "body must be a JSON object")
    where = lone_surrogate(value)
    if where is not None:
        raise LegacyError(400, "validation_error", not_unicode(where))
    return value


class IdConvertor(IntegerConvertor):
    """`{name:id}`: an id in a v1 path, ASCII digits without a leading zero (`03` and `٣`
    name nothing, as in legacy: `/orders/03` is not order 3)."""

    regex = "0|[1-9][0-9]*"


# Starlette looks convertors up by name when a route is made; every v1 route module imports
# this one first, so `{user_id:id}` is known before any app builds its routes.
register_url_convertor("id", IdConvertor())


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def path_id(request: Request, name: str) -> int:
    """An integer path parameter; one too large for the database is 0, which names nothing."""
    value = int(request.path_params[name])
    return value if value <= MAX_ID else 0


def iso(moment: datetime) -> str:
    """Seconds precision, UTC, `Z`: how the legacy shop writes every time."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"  # strftime takes four times as long


HttpHandler = Callable[[Request, Exception], Awaitable[Response]]
# Werkzeug's words, which legacy clients see in `message`
_HTTP_MESSAGES = {
    404: "The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again.",
    405: "The method is not allowed for the requested URL.",
}


def by_path(
    problem_handlers: Mapping[Any, ExceptionHandler],
) -> Mapping[Any, ExceptionHandler]:
    """Error handlers that answer v1 paths in the legacy shape and the rest as problems."""
    problems = {kind: cast(HttpHandler, handler) for kind, handler in problem_handlers.items()}

    async def on_legacy(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LegacyError)
        return error_response(exc.status, exc.code, exc.message)

    def delegate(kind: Any, legacy: HttpHandler) -> HttpHandler:
        async def handle(request: Request, exc: Exception) -> Response:
            if is_v1(request.url.path):
                return await legacy(request, exc)
            return await problems[kind](request, exc)

        return handle

    async def problem_v1(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return error_response(exc.status, legacy_code(exc), exc.detail)

    async def http_error_v1(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
        response = error_response(exc.status_code, code, message)
        response.headers.update(exc.headers or {})  # 405 keeps its Allow header
        return response

    async def unexpected_v1(request: Request, exc: Exception) -> Response:
        await problems[Exception](request, exc)  # it logs the error
        return error_response(500, "internal_error", "something went wrong")

    return {
        LegacyError: on_legacy,
        Problem: delegate(Problem, problem_v1),
        HTTPException: delegate(HTTPException, http_error_v1),
        Exception: delegate(Exception, unexpected_v1),
    }
