"""The SMTP side of the sink: aiosmtpd sessions served on the app's own event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import anyio.to_thread
from aiosmtpd.smtp import SMTP, Envelope, Session

from stand_ins.mail.config import SinkConfig
from stand_ins.mail.errors import ListenerError, StorageError
from stand_ins.mail.model import read_message
from stand_ins.mail.store import MessageStore

log = logging.getLogger(__name__)

SERVER_NAME = "mail-sink"  # given, so aiosmtpd does not stall on a reverse DNS lookup
_SHUTDOWN_GRACE_SECONDS = 2.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SinkHandler:
    """aiosmtpd handler: keeps every message (once per Message-ID), then answers as slowly as
    ``config`` says."""

    def __init__(
        self,
        store: MessageStore,
        config: SinkConfig,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self.config = config
        self._clock = clock

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = read_message(envelope.mail_from or "", envelope.rcpt_tos, raw, self._clock())
        try:
            stored, new = await anyio.to_thread.run_sync(self._store.add, message)
        except StorageError:
            log.exception("message from %s not stored", message.mail_from)
            return "451 4.3.0 Message not stored, try again later"
        if new:
            log.info("message %s stored for %s", stored.id, ", ".join(message.rcpt_tos))
        else:
            log.info("message %s sent again (same Message-ID): not kept twice", stored.id)
        # Like a slow relay: the message is kept first, so a sender that gives up early
        # and retries will deliver it twice, as it would in real life.
        if self.config.delay_ms:
            await asyncio.sleep(self.config.delay_ms / 1000)
        return "250 2.0.0 Message accepted for delivery"


class _Session(SMTP):
    """One SMTP connection that tells the listener when it has gone."""

    def __init__(self, handler: SinkHandler, on_lost: Callable[[_Session], None]) -> None:
        super().__init__(
            handler,
            hostname=SERVER_NAME,
            enable_SMTPUTF8=True,
            loop=asyncio.get_running_loop(),
        )
        self._on_lost = on_lost

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._on_lost(self)


class SmtpListener:
    """Starts and stops an SMTP server on the running loop, closing open sessions on stop."""

    def __init__(self, handler: SinkHandler, host: str, port: int) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._open_session, self._host, self._port)
        except OSError as exc:
            raise ListenerError(f"cannot listen for SMTP on {self._host}:{self._port}") from exc
        log.info("SMTP listening on %s:%s", self._host, self._port)

    async def stop(self) -> None:
        """Stop listening and hang up on every client, so the port is free when this returns."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SHUTDOWN_GRACE_SECONDS
        while self._sessions and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let the cancelled session tasks finish

    def _open_session(self) -> _Session:
        session = _Session(self._handler, self._sessions.discard)
        self._sessions.add(session)
        return session
