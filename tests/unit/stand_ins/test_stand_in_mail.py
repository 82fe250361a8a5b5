"""The mail sink takes real SMTP deliveries and lets tests read them back over HTTP."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import anyio.to_thread
import httpx
import pytest

from stand_ins.mail.app import create_app
from stand_ins.mail.errors import ConfigError, ListenerError
from stand_ins.mail.settings import MailSettings

pytestmark = pytest.mark.anyio

Starter = Callable[[MailSettings], AbstractAsyncContextManager[httpx.AsyncClient]]


def smtp_client(port: int) -> smtplib.SMTP:
    # local_hostname spares smtplib a reverse DNS lookup of this machine.
    return smtplib.SMTP("127.0.0.1", port, local_hostname="tests.local", timeout=5)


def send(
    port: int,
    to: list[str],
    subject: str = "Your order #1",
    text: str = "Hello,\nthanks for your order.\n",
    html: str | None = None,
    message_id: str | None = None,
) -> None:
    message = EmailMessage()
    if message_id is not None:
        message["Message-ID"] = message_id
    message["From"] = "shop@example.com"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtp_client(port) as smtp:
        smtp.send_message(message)


async def deliver(settings: MailSettings, to: list[str], **fields: str) -> None:
    """Send with the blocking smtplib in a thread, so the sink on this loop can answer."""
    await anyio.to_thread.run_sync(partial(send, settings.smtp_port, to, **fields))


async def messages(client: httpx.AsyncClient, **filters: str) -> list[dict[str, object]]:
    response = await client.get("/messages", params=filters)
    assert response.status_code == 200
    listed: list[dict[str, object]] = response.json()["messages"]
    return listed


async def test_the_health_check_answers_ok_while_smtp_listens(mail: httpx.AsyncClient) -> None:
    response = await mail.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_the_health_check_fails_when_the_smtp_listener_is_not_up(
    mail_settings: MailSettings,
) -> None:
    app = create_app(mail_settings)  # lifespan not run: nothing listens
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mail.test") as client:
        response = await client.get("/healthz")

    assert response.status_code == 503


async def test_a_message_sent_over_smtp_can_be_read_back_over_http(
    mail: httpx.AsyncClient, mail_settings: MailSettings
) -> None:
    await deliver(mail_settings, ["Ada@Example.com"], subject="Your order #7 — merci")

    [message] = await messages(mail)
    assert message == {
        "id": message["id"],
        "mail_from": "shop@example.com",
        "rcpt_tos": ["Ada@Example.com"],
        "subject": "Your order #7 — merci",
        "text": "Hello,\nthanks for your order.\n",
        "size": message["size"],
        "received_at": message["received_at"],
        "message_id": None,
    }
    assert isinstance(message["size"], int) and message["size"] > 100
    assert str(message["received_at"]).endswith("Z")
    assert (await mail.get(f"/messages/{message['id']}")).json() == message


async def test_a_message_sent_again_with_its_message_id_is_kept_once(
    mail: httpx.AsyncClient, mail_settings: MailSettings
) -> None:
    """A sender that never heard the 250 (it crashed while the sink took its time) sends
    again: the sink, as receiving mail systems do, keeps one message per Message-ID."""
    await mail.put("/_admin/config", json={"delay_ms": 200})
    sent = partial(send, mail_settings.smtp_port, ["ada@example.com"])
    message = EmailMessage()
    message["Message-ID"] = "<event-1@shop>"
    message["Subject"] = "Your order #1"
    message.set_content("Hello")
    with (
        pytest.raises(smtplib.SMTPServerDisconnected),  # it gives up before the 250
        smtplib.SMTP("127.0.0.1", mail_settings.smtp_port, "tests.local", 0.05) as smtp,
    ):
        await anyio.to_thread.run_sync(
            smtp.send_message, message, "shop@example.com", ["ada@example.com"]
        )
    await anyio.to_thread.run_sync(
        partial(sent, subject="Your order #1", message_id="<event-1@shop>")
    )
    await anyio.to_thread.run_sync(
        partial(sent, subject="Your order #2", message_id="<event-2@shop>")
    )
    await anyio.to_thread.run_sync(partial(sent, subject="no id"))
    await anyio.to_thread.run_sync(partial(sent, subject="no id"))

    kept = [(m["subject"], m["message_id"]) for m in await messages(mail)]
    assert kept == [
        ("Your order #1", "<event-1@shop>"),
        ("Your order #2", "<event-2@shop>"),
        ("no id", None),
        ("no id", None),
    ]


async def test_the_plain_text_part_is_kept_when_html_comes_along(
    mail: httpx.AsyncClient, mail_settings: MailSettings
) -> None:
    await deliver(mail_settings, ["ada@example.com"], text="plain words\n", html="<p>rich</p>")

    [message] = await messages(mail)
    assert message["text"] == "plain words\n"


async def test_messages_are_filtered_by_any_recipient_ignoring_case_oldest_first(
    mail: httpx.AsyncClient, mail_settings: MailSettings
) -> None:
    await deliver(mail_settings, ["ada@example.com"], subject="first")
    await deliver(mail_settings, ["bob@example.com", "ADA@example.com"], subject="second")
    await deliver(mail_settings, ["bob@example.com"], subject="third")

    for_ada = await messages(mail, to="Ada@Example.COM")
    everything = await messages(mail)

    assert [m["subject"] for m in for_ada] == ["first", "second"]
    assert [m["subject"] for m in everything] == ["first", "second", "third"]
    assert await messages(mail, to="nobody@example.com") == []


async def test_each_message_is_answered_only_after_the_configured_delay(
    mail: httpx.AsyncClient, mail_settings: MailSettings
) -> None:
    configured = await mail.put("/_admin/config", json={"delay_ms": 300})

    started = time.monotonic()
    await deliver(mail_settings, ["ada@example.com"])
    elapsed = time.monotonic() - started

    assert configured.json() == {"delay_ms": 300}
    assert elapsed >= 0.3
    assert len(await messages(mail)) == 1


async def test_the_delay_can_come_from_the_settings(
    start_mail: Starter, mail_settings: MailSettings
) -> None:
    async with start_mail(replace(mail_settings, delay_ms=200)) as client:
        started = time.monotonic()
        await deliver(mail_settings, ["ada@example.com"])
        elapsed = time.monotonic() - started
        config = (await client.get("/_admin/config")).json()

    assert config == {"delay_ms": 200}
    assert elapsed >= 0.2


async def test_deleting_the_messages_clears_them_all(
    mail: httpx.AsyncClient, mail_settings: MailSettings
) -> None:
    await deliver(mail_settings, ["ada@example.com"])
    await deliver(mail_settings, ["bob@example.com"])

    response = await mail.delete("/messages")

    assert response.status_code == 204
    assert await messages(mail) == []
    assert await messages(mail, to="ada@example.com") == []


async def test_an_unknown_message_is_not_found(mail: httpx.AsyncClient) -> None:
    unknown = await mail.get("/messages/999")
    not_a_number = await mail.get("/messages/abc")

    assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "not_found")
    assert not_a_number.status_code == 404


async def test_unknown_paths_and_wrong_methods_answer_json_errors(
    mail: httpx.AsyncClient,
) -> None:
    missing = await mail.get("/inbox")
    wrong_method = await mail.post("/messages", json={})

    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "not_found")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": "100"}, "delay_ms"),
        ({"delay_ms": True}, "delay_ms"),
        ({"latency_ms": 5}, "latency_ms"),
        ([], "object"),
    ],
)
async def test_an_invalid_config_change_is_refused_and_changes_nothing(
    mail: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await mail.put("/_admin/config", json=body)

    assert response.status_code == 400
    assert field in response.json()["error"]["message"]
    assert (await mail.get("/_admin/config")).json() == {"delay_ms": 0}


async def test_stopping_hangs_up_on_clients_frees_the_port_and_keeps_the_messages(
    start_mail: Starter, mail_settings: MailSettings
) -> None:
    async with start_mail(mail_settings):
        await deliver(mail_settings, ["ada@example.com"], subject="before")
        idle = await anyio.to_thread.run_sync(smtp_client, mail_settings.smtp_port)

    with pytest.raises(smtplib.SMTPServerDisconnected):
        await anyio.to_thread.run_sync(idle.noop)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", mail_settings.smtp_port), timeout=1).close()

    async with start_mail(mail_settings) as restarted:
        await deliver(mail_settings, ["ada@example.com"], subject="after")
        assert [m["subject"] for m in await messages(restarted)] == ["before", "after"]


async def test_a_taken_smtp_port_fails_the_startup(
    start_mail: Starter, mail_settings: MailSettings
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", mail_settings.smtp_port))
        squatter.listen()
        with pytest.raises(ListenerError):
            async with start_mail(mail_settings):
                pass


def test_settings_are_read_from_the_environment() -> None:
    settings = MailSettings.from_env(
        {
            "MAIL_SMTP_PORT": "8025",
            "MAIL_SMTP_HOST": "10.0.0.5",
            "MAIL_DB_PATH": "/data/mail.db",
            "MAIL_DELAY_MS": "150",
        }
    )

    assert settings == MailSettings(8025, "10.0.0.5", Path("/data/mail.db"), 150)
    assert MailSettings.from_env({"MAIL_SMTP_PORT": "8025"}) == MailSettings(8025)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"MAIL_SMTP_PORT": "smtp"},
        {"MAIL_SMTP_PORT": "70000"},
        {"MAIL_SMTP_PORT": "8025", "MAIL_DELAY_MS": "-1"},
    ],
)
def test_bad_settings_in_the_environment_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        MailSettings.from_env(environ)
