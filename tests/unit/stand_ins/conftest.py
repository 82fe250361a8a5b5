"""Fixtures for the stand-in tests: a SQLite file per test and, for mail, a free SMTP port."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from stand_ins.mail.app import create_app as create_mail_app
from stand_ins.mail.settings import MailSettings
from stand_ins.payments.app import create_app as create_payments_app
from stand_ins.payments.settings import PaymentsSettings

Starter = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def serving(app: Starlette, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan, as uvicorn would, around a client that talks to it in-process."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
    ):
        yield client


@pytest.fixture
def payments_settings(tmp_path: Path) -> PaymentsSettings:
    return PaymentsSettings(db_path=tmp_path / "payments.db")


@pytest.fixture
def start_payments() -> Starter:
    """Start a payment stand-in: ``async with start_payments(settings) as client``."""

    def start(settings: PaymentsSettings) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serving(create_payments_app(settings), "http://payments.test")

    return start


@pytest.fixture
async def payments(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> AsyncIterator[httpx.AsyncClient]:
    async with start_payments(payments_settings) as client:
        yield client


@pytest.fixture
def mail_settings(tmp_path: Path) -> MailSettings:
    return MailSettings(smtp_port=free_port(), db_path=tmp_path / "mail.db")


@pytest.fixture
def start_mail() -> Starter:
    """Start a mail sink: ``async with start_mail(settings) as client``."""

    def start(settings: MailSettings) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serving(create_mail_app(settings), "http://mail.test")

    return start


@pytest.fixture
async def mail(
    start_mail: Starter, mail_settings: MailSettings
) -> AsyncIterator[httpx.AsyncClient]:
    async with start_mail(mail_settings) as client:
        yield client
