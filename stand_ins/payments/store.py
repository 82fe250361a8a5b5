"""SQLite persistence for charges, refunds and idempotency keys, one connection per thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from stand_ins.payments.errors import StorageError
from stand_ins.payments.idempotency import IdempotencyKey, KeyRecord, Reply
from stand_ins.payments.model import Charge, ChargeStatus, Refund
from stand_ins.sqlite import PerThread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    amount_cents   INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    card_token     TEXT    NOT NULL,
    description    TEXT,
    status         TEXT    NOT NULL,
    refunded_cents INTEGER NOT NULL,
    created_at     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_by_card_token ON charges (card_token);
CREATE TABLE IF NOT EXISTS refunds (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    charge_id    TEXT    NOT NULL REFERENCES charges (id),
    amount_cents INTEGER NOT NULL,
    created_at   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_by_charge ON refunds (charge_id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    reply_status INTEGER,
    reply_body   TEXT,
    locked_until REAL,
    PRIMARY KEY (scope, key)
);
"""

_CHARGE_COLUMNS = (
    "id, amount_cents, currency, card_token, description, status, refunded_cents, created_at,"
    " reference"
)
_REFUND_COLUMNS = "id, charge_id, amount_cents, created_at"


class Store:
    """A connection per thread, kept (stand_ins/sqlite.py)."""

    def __init__(self, path: Path, busy_timeout_seconds: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout_seconds
        self._connections = PerThread(self._connect)

    def initialise(self) -> None:
        """Create the tables and switch the file to WAL, so readers never wait for writers."""
        try:
            with closing(self._connect()) as connection:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.executescript(_SCHEMA)
                _add_references(connection)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot prepare the database at {self._path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction; ``BEGIN IMMEDIATE`` queues writers instead of failing them."""
        with self._unit("BEGIN IMMEDIATE") as tx:
            yield tx

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        """A read transaction: a consistent snapshot that never blocks writers."""
        with self._unit("BEGIN") as tx:
            yield tx

    @contextmanager
    def _unit(self, begin: str) -> Iterator[Transaction]:
        try:
            with self._connections.held() as connection:
                connection.execute(begin)
                try:
                    yield Transaction(connection)
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"database error: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection


class Transaction:
    """The queries the service needs, all inside one SQLite transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def insert_charge(self, charge: Charge) -> None:
        self._db.execute(
            f"INSERT INTO charges ({_CHARGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                charge.id,
                charge.amount_cents,
                charge.currency,
                charge.card_token,
                charge.description,
                charge.status.value,
                charge.refunded_cents,
                charge.created_at,
                charge.reference,
            ),
        )

    def update_charge(self, charge: Charge) -> None:
        self._db.execute(
            "UPDATE charges SET status = ?, refunded_cents = ? WHERE id = ?",
            (charge.status.value, charge.refunded_cents, charge.id),
        )

    def charge(self, charge_id: str) -> Charge | None:
        row = self._db.execute(
            f"SELECT {_CHARGE_COLUMNS} FROM charges WHERE id = ?",  # noqa: S608
            (charge_id,),
        ).fetchone()
        return None if row is None else _charge(row)

    def charges(
        self, card_token: str | None, status: ChargeStatus | None, reference: str | None
    ) -> list[Charge]:
        rows = self._db.execute(
            f"SELECT {_CHARGE_COLUMNS} FROM charges"  # noqa: S608
            " WHERE (:token IS NULL OR card_token = :token)"
            " AND (:status IS NULL OR status = :status)"
            " AND (:reference IS NULL OR reference = :reference) ORDER BY seq",
            {
                "token": card_token,
                "status": None if status is None else status.value,
                "reference": reference,
            },
        )
        return [_charge(row) for row in rows]

    def insert_refund(self, refund: Refund) -> None:
        self._db.execute(
            f"INSERT INTO refunds ({_REFUND_COLUMNS}) VALUES (?, ?, ?, ?)",  # noqa: S608
            (refund.id, refund.charge_id, refund.amount_cents, refund.created_at),
        )

    def refunds(self, charge_id: str | None) -> list[Refund]:
        rows = self._db.execute(
            f"SELECT {_REFUND_COLUMNS} FROM refunds"  # noqa: S608
            " WHERE (:charge IS NULL OR charge_id = :charge) ORDER BY seq",
            {"charge": charge_id},
        )
        return [Refund(*row) for row in rows]

    def key(self, key: IdempotencyKey) -> KeyRecord | None:
        row = self._db.execute(
            "SELECT fingerprint, reply_status, reply_body, locked_until FROM idempotency_keys"
            " WHERE scope = ? AND key = ?",
            (key.scope, key.value),
        ).fetchone()
        if row is None:
            return None
        fingerprint, status, body, locked_until = row
        reply = None if status is None else Reply(status, json.loads(body))
        return KeyRecord(fingerprint, reply, locked_until)

    def lock_key(self, key: IdempotencyKey, fingerprint: str, until: float) -> None:
        self._db.execute(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, locked_until)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (scope, key)"
            " DO UPDATE SET locked_until = excluded.locked_until",
            (key.scope, key.value, fingerprint, until),
        )

    def keep_reply(self, key: IdempotencyKey, reply: Reply) -> None:
        self._db.execute(
            "UPDATE idempotency_keys SET reply_status = ?, reply_body = ?"
            " WHERE scope = ? AND key = ?",
            (reply.status, json.dumps(reply.body), key.scope, key.value),
        )

    def unlock_key(self, key: IdempotencyKey) -> None:
        self._db.execute(
            "UPDATE idempotency_keys SET locked_until = NULL WHERE scope = ? AND key = ?",
            (key.scope, key.value),
        )

    def forget_key(self, key: IdempotencyKey) -> None:
        """Drop a claim that ended without a reply worth keeping."""
        self._db.execute(
            "DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND reply_status IS NULL",
            (key.scope, key.value),
        )


def _add_references(connection: sqlite3.Connection) -> None:
    """Charges gained a merchant reference; a file made before that gets the column."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(charges)")}
    if "reference" not in columns:
        connection.execute("ALTER TABLE charges ADD COLUMN reference TEXT")
    connection.execute("CREATE INDEX IF NOT EXISTS charges_by_reference ON charges (reference)")


def _charge(row: Any) -> Charge:
    charge_id, amount, currency, token, description, status, refunded, created_at, ref = row
    return Charge(
        charge_id,
        amount,
        currency,
        token,
        description,
        ChargeStatus(status),
        refunded,
        created_at,
        ref,
    )
