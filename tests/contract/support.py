"""What the contract tests share: unique values, error checks, polling, and the stand-ins' APIs.

Everything here speaks HTTP only, so the suite runs unchanged against the legacy shop, the
gateway in any mode, or re-implemented services, on a database that already holds rows.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

# No earlier run gets anywhere near this, and it still fits the shop's 32-bit id columns.
MISSING_ID = 2_000_000_000
ISO_SECONDS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
USER_KEYS = {"id", "email", "name", "created_at"}
PRODUCT_KEYS = {"id", "sku", "name", "price_cents", "stock"}
CART_KEYS = {"user_id", "items", "subtotal_cents"}
LINE_KEYS = {"product_id", "name", "unit_price_cents", "quantity", "line_total_cents"}
ORDER_KEYS = {
    "id",
    "user_id",
    "status",
    "items",
    "subtotal_cents",
    "discount_code",
    "discount_cents",
    "shipping_cents",
    "tax_cents",
    "total_cents",
    "charge_id",
    "created_at",
}


def unique_email(prefix: str = "buyer") -> str:
    return f"{prefix}-{uuid.uuid4().hex}@example.com"


def unique_sku() -> str:
    return f"C-{uuid.uuid4().hex}"


def card_token(kind: str = "visa") -> str:
    """A token no other test uses, so the provider's charges for it are this test's alone."""
    return f"tok_{kind}_{uuid.uuid4().hex}"


def utc_today() -> date:
    return datetime.now(UTC).date()


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The shop's error shape: exactly `error` and `message`, with the stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]


def assert_recent_utc(stamp: str) -> None:
    """ISO 8601, seconds precision, `Z`, and actually now in UTC (not local time)."""
    assert ISO_SECONDS_UTC.fullmatch(stamp), stamp
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=10), stamp


def eventually(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """Probe until `done` holds or time runs out; the caller asserts on what comes back.

    The legacy shop does everything before it answers; extracted services may send mail or
    update reports a moment later, and the contract allows that.
    """
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = probe()
    return value


@dataclass
class Provider:
    """The payment-provider stand-in, seen from outside: charges, refunds, fault config."""

    client: httpx.Client
    _saved_config: dict[str, Any] | None = field(default=None, init=False)

    def charges(self, token: str) -> list[dict[str, Any]]:
        response = self.client.get("/v1/charges", params={"card_token": token})
        response.raise_for_status()
        charges: list[dict[str, Any]] = response.json()["charges"]
        return charges

    def refunds(self, charge_id: str) -> list[dict[str, Any]]:
        response = self.client.get("/v1/refunds", params={"charge_id": charge_id})
        response.raise_for_status()
        refunds: list[dict[str, Any]] = response.json()["refunds"]
        return refunds

    def configure(self, **changes: Any) -> None:
        """Change latency or failure rate; `restore` puts back what was there before."""
        if self._saved_config is None:
            current = self.client.get("/_admin/config")
            current.raise_for_status()
            self._saved_config = current.json()
        self.client.put("/_admin/config", json=changes).raise_for_status()

    def restore(self) -> None:
        if self._saved_config is not None:
            self.client.put("/_admin/config", json=self._saved_config).raise_for_status()
            self._saved_config = None


def money_taken(charges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Charges that moved money: a declined attempt is on record but took nothing."""
    return [c for c in charges if c["status"] != "declined"]


@dataclass
class Mailbox:
    """The mail-sink stand-in: what each address has received."""

    client: httpx.Client

    def messages(self, to: str) -> list[dict[str, Any]]:
        response = self.client.get("/messages", params={"to": to})
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def wait_for(self, to: str, count: int = 1) -> list[dict[str, Any]]:
        return eventually(lambda: self.messages(to), lambda found: len(found) >= count)
