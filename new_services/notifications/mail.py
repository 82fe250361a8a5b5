"""The confirmation e-mail, written exactly as the legacy shop writes it (v1 clients and the
contract suite read it), and sent over SMTP."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from new_services.notifications.settings import NotificationsSettings


def order_confirmation(settings: NotificationsSettings, event: dict[str, Any]) -> EmailMessage:
    order = event["payload"]
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = order["email"]
    message["Subject"] = f"Your order #{order['order_id']}"
    message["Message-ID"] = f"<{event['id']}@notifications.strangler-kit>"
    message.set_content(
        f"Hello {order['name']},\n\nthank you for order #{order['order_id']}.\n"
        f"Total charged: {order['total_cents'] / 100:.2f} USD.\n"
    )
    return message


def send(settings: NotificationsSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
    ) as smtp:
        smtp.send_message(message)
