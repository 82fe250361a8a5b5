"""HTTP edge of the mail sink: health, read-back of received messages, and run-time config."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ExceptionHandler

from stand_ins.mail.errors import (
    ConfigError,
    InvalidRequest,
    MailError,
    NotFound,
    RequestTooLarge,
)
from stand_ins.mail.smtp import SinkHandler, SmtpListener
from stand_ins.mail.store import MessageStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
_HTTP_ERROR_TYPES = {404: "not_found", 405: "method_not_allowed"}


class MailApi:
    def __init__(self, store: MessageStore, handler: SinkHandler, listener: SmtpListener) -> None:
        self._store = store
        self._handler = handler
        self._listener = listener

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/messages", self.list_messages, methods=["GET"]),
            Route("/messages", self.clear_messages, methods=["DELETE"]),
            Route("/messages/{message_id:int}", self.get_message, methods=["GET"]),
            Route("/_admin/config", self.get_config, methods=["GET"]),
            Route("/_admin/config", self.put_config, methods=["PUT"]),
        ]

    async def healthz(self, _: Request) -> Response:
        if not self._listener.serving:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def list_messages(self, request: Request) -> Response:
        to = request.query_params.get("to")
        messages = await run_in_threadpool(self._store.messages, None if to is None else to.strip())
        return JSONResponse({"messages": [message.as_json() for message in messages]})

    async def get_message(self, request: Request) -> Response:
        message_id: int = request.path_params["message_id"]
        message = await run_in_threadpool(self._store.message, message_id)
        if message is None:
            raise NotFound(f"no message with id {message_id}")
        return JSONResponse(message.as_json())

    async def clear_messages(self, _: Request) -> Response:
        await run_in_threadpool(self._store.clear)
        return Response(status_code=204)

    async def get_config(self, _: Request) -> Response:
        return JSONResponse(self._handler.config.as_json())

    async def put_config(self, request: Request) -> Response:
        try:
            changes = json.loads(await read_body(request))
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest("request body must be valid JSON") from exc
        try:
            self._handler.config = self._handler.config.updated(changes)
        except ConfigError as exc:
            raise InvalidRequest(str(exc)) from exc
        log.info("sink config is now %s", self._handler.config)
        return JSONResponse(self._handler.config.as_json())


async def read_body(request: Request) -> bytes:
    """The request body, refused once it passes ``MAX_BODY_BYTES`` rather than held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"request bodies are limited to {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RequestTooLarge(f"request bodies are limited to {MAX_BODY_BYTES} bytes")
    return bytes(body)


def error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"error": {"type": error_type, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def on_mail_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, MailError)
    return JSONResponse(exc.as_body(), status_code=exc.status)


async def on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, error_type, exc.detail, headers=exc.headers)


async def on_unexpected_error(_: Request, exc: Exception) -> Response:
    # ServerErrorMiddleware logs the traceback after this; the client never sees it.
    return error_response(500, "internal_error", "the mail sink hit an unexpected error")


EXCEPTION_HANDLERS: Mapping[Any, ExceptionHandler] = {
    MailError: on_mail_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}
