"""Received messages and how their raw bytes are read: pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass(frozen=True)
class IncomingMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    text: str
    size: int
    received_at: str
    message_id: str | None = None  # the Message-ID header: one message, however often sent


@dataclass(frozen=True)
class StoredMessage:
    id: int
    message: IncomingMessage

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "mail_from": self.message.mail_from,
            "rcpt_tos": list(self.message.rcpt_tos),
            "subject": self.message.subject,
            "text": self.message.text,
            "size": self.message.size,
            "received_at": self.message.received_at,
            "message_id": self.message.message_id,
        }


def read_message(
    mail_from: str, rcpt_tos: list[str], raw: bytes, received_at: datetime
) -> IncomingMessage:
    """Pick the subject and the plain-text body out of an RFC 5322 message."""
    parsed = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    return IncomingMessage(
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        subject=_subject(parsed),
        text=_plain_text(parsed),
        size=len(raw),
        received_at=timestamp(received_at),
        message_id=str(parsed["Message-ID"]).strip() if parsed["Message-ID"] else None,
    )


def timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _subject(parsed: EmailMessage) -> str:
    return str(parsed.get("Subject", ""))


def _plain_text(parsed: EmailMessage) -> str:
    part = parsed.get_body(preferencelist=("plain",))
    if not isinstance(part, EmailMessage):
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError):
        # Unknown or lying charset: decode what is there instead of losing the body.
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return str(text).replace("\r\n", "\n")
