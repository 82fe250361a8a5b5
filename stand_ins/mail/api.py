"""HTTP edge of the mail sink: health, read-back of received messages, and run-time config."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stand_ins.edge import config_routes, exception_handlers
from stand_ins.mail.errors import (
    ConfigError,
    InvalidRequest,
    MailError,
    NotFound,
    RequestTooLarge,
)
from stand_ins.mail.smtp import SinkHandler, SmtpListener
from stand_ins.mail.store import MessageStore


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
            *config_routes(self._handler, "sink", InvalidRequest, RequestTooLarge, ConfigError),
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


EXCEPTION_HANDLERS = exception_handlers(MailError, "mail sink")
