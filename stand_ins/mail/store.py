"""SQLite persistence for received messages, one connection per thread (stand_ins/sqlite.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stand_ins.mail.errors import StorageError
from stand_ins.mail.model import IncomingMessage, StoredMessage
from stand_ins.sqlite import PerThread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_from   TEXT    NOT NULL,
    rcpt_tos    TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    received_at TEXT    NOT NULL,
    message_id  TEXT
);
CREATE TABLE IF NOT EXISTS recipients (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS recipients_by_address ON recipients (address);
"""
# Kept once per Message-ID, as a receiving mail system does: a sender that resends a message
# whose "250 OK" it never heard (it crashed, or gave up waiting) does not deliver it twice.
_ONE_PER_MESSAGE_ID = """
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_message_id ON messages (message_id)
WHERE message_id IS NOT NULL;
"""

_COLUMNS = "id, mail_from, rcpt_tos, subject, text, size, received_at, message_id"


class MessageStore:
    def __init__(self, path: Path, busy_timeout_seconds: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout_seconds
        self._connections = PerThread(self._connect)

    def initialise(self) -> None:
        """Create the tables and switch the file to WAL, so readers never wait for writers."""
        with self._connection() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
            if "message_id" not in columns:  # a sink made before messages had one
                db.execute("ALTER TABLE messages ADD COLUMN message_id TEXT")
            db.executescript(_ONE_PER_MESSAGE_ID)

    def add(self, message: IncomingMessage) -> tuple[StoredMessage, bool]:
        """The stored message, and whether it is new (False: a copy of one already kept,
        by Message-ID, which is not kept again)."""
        with self._connection() as db, db:
            if message.message_id is not None:
                kept = db.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE message_id = ?",  # noqa: S608
                    (message.message_id,),
                ).fetchone()
                if kept is not None:
                    return _stored(kept), False
            cursor = db.execute(
                "INSERT INTO messages"
                " (mail_from, rcpt_tos, subject, text, size, received_at, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message.mail_from,
                    json.dumps(message.rcpt_tos),
                    message.subject,
                    message.text,
                    message.size,
                    message.received_at,
                    message.message_id,
                ),
            )
            message_id = cursor.lastrowid
            assert message_id is not None
            db.executemany(
                "INSERT INTO recipients (message_id, address) VALUES (?, ?)",
                [(message_id, address.lower()) for address in set(message.rcpt_tos)],
            )
        return StoredMessage(message_id, message), True

    def messages(self, to: str | None = None) -> list[StoredMessage]:
        """All messages oldest first, or those with ``to`` among their recipients (any case)."""
        with self._connection() as db:
            if to is None:
                rows = db.execute(f"SELECT {_COLUMNS} FROM messages ORDER BY id")  # noqa: S608
            else:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE id IN"  # noqa: S608
                    " (SELECT message_id FROM recipients WHERE address = ?) ORDER BY id",
                    (to.lower(),),
                )
            return [_stored(row) for row in rows]

    def message(self, message_id: int) -> StoredMessage | None:
        with self._connection() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?",  # noqa: S608
                (message_id,),
            ).fetchone()
        return None if row is None else _stored(row)

    def clear(self) -> None:
        with self._connection() as db, db:
            db.execute("DELETE FROM recipients")
            db.execute("DELETE FROM messages")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._connections.held() as db:
                yield db
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=self._busy_timeout)
        db.execute("PRAGMA foreign_keys = ON")
        return db


def _stored(row: Any) -> StoredMessage:
    message_id, mail_from, rcpt_tos, subject, text, size, received_at, header_id = row
    message = IncomingMessage(
        mail_from, tuple(json.loads(rcpt_tos)), subject, text, size, received_at, header_id
    )
    return StoredMessage(message_id, message)
