"""HTTP edge of the mail sink: health, read-back of received messages, and run-time config."""

from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stand_ins.edge import exception_handlers, read_body
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
            changes = json.loads(await read_body(request, RequestTooLarge))
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest("request body must be valid JSON") from exc
        try:
            self._handler.config = self._handler.config.updated(changes)
        except ConfigError as exc:
            raise InvalidRequest(str(exc)) from exc
        log.info("sink config is now %s", self._handler.config)
        return JSONResponse(self._handler.config.as_json())


EXCEPTION_HANDLERS = exception_handlers(MailError, "mail sink")
