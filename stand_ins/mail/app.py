"""Mail sink composition root: ``uvicorn --factory stand_ins.mail.app:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from stand_ins.mail.api import EXCEPTION_HANDLERS, MailApi
from stand_ins.mail.settings import MailSettings
from stand_ins.mail.smtp import SinkHandler, SmtpListener
from stand_ins.mail.store import MessageStore


def create_app(settings: MailSettings | None = None) -> Starlette:
    """Build the app; settings come from the environment unless given."""
    settings = MailSettings.from_env() if settings is None else settings
    store = MessageStore(settings.db_path)
    handler = SinkHandler(store, settings.sink_config())
    listener = SmtpListener(handler, settings.smtp_host, settings.smtp_port)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(store.initialise)
        # SMTP is served on uvicorn's own loop: no extra thread, and it stops with the app.
        await listener.start()
        try:
            yield
        finally:
            await listener.stop()

    return Starlette(
        routes=MailApi(store, handler, listener).routes(),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
