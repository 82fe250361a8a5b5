"""Charges, refunds and the rules that validate them: pure data, no I/O."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum, StrEnum

from stand_ins.payments.errors import InvalidRefund, InvalidRequest

MAX_AMOUNT_CENTS = 2**53 - 1  # the largest integer every JSON client reads exactly
MAX_DESCRIPTION_CHARS = 500
MAX_TOKEN_CHARS = 255
_CURRENCY = re.compile(r"[a-z]{3}")


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REFUNDED = "refunded"


class CardOutcome(Enum):
    """What the card network does with a test token."""

    APPROVE = "approve"
    DECLINE = "decline"
    FAIL = "fail"
    UNKNOWN = "unknown"


_TOKEN_OUTCOMES = {
    "tok_visa": CardOutcome.APPROVE,
    "tok_declined": CardOutcome.DECLINE,
    "tok_error": CardOutcome.FAIL,
}


def card_outcome(card_token: str) -> CardOutcome:
    """``tok_visa``, ``tok_declined``, ``tok_error``, each optionally followed by ``_<suffix>``."""
    for prefix, outcome in _TOKEN_OUTCOMES.items():
        if card_token == prefix or (
            card_token.startswith(prefix + "_") and len(card_token) > len(prefix) + 1
        ):
            return outcome
    return CardOutcome.UNKNOWN


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Charge:
    id: str
    amount_cents: int
    currency: str
    card_token: str
    description: str | None
    status: ChargeStatus
    refunded_cents: int
    created_at: str
    reference: str | None = None  # the merchant's own name for what it charged for

    @property
    def refundable_cents(self) -> int:
        if self.status is ChargeStatus.DECLINED:
            return 0
        return self.amount_cents - self.refunded_cents

    def plan_refund(self, requested_cents: int | None) -> int:
        """How much a refund takes: the request, or all that is left when none is given."""
        if self.status is ChargeStatus.DECLINED:
            raise InvalidRefund(f"charge {self.id} was declined; there is nothing to refund")
        if self.refundable_cents == 0:
            raise InvalidRefund(f"charge {self.id} is already fully refunded")
        amount = self.refundable_cents if requested_cents is None else requested_cents
        if amount > self.refundable_cents:
            raise InvalidRefund(
                f"amount_cents {amount} exceeds the {self.refundable_cents} cents left to refund"
            )
        return amount

    def refunded(self, amount_cents: int) -> Charge:
        total = self.refunded_cents + amount_cents
        status = ChargeStatus.REFUNDED if total == self.amount_cents else self.status
        return replace(self, refunded_cents=total, status=status)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "charge",
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "card_token": self.card_token,
            "description": self.description,
            "status": self.status.value,
            "refunded_cents": self.refunded_cents,
            "created_at": self.created_at,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class Refund:
    id: str
    charge_id: str
    amount_cents: int
    created_at: str

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "refund",
            "charge_id": self.charge_id,
            "amount_cents": self.amount_cents,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class ChargeRequest:
    amount_cents: int
    currency: str
    card_token: str
    description: str | None
    reference: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    charge_id: str
    amount_cents: int | None


def parse_charge_request(raw: bytes) -> ChargeRequest:
    body = _json_object(raw, {"amount_cents", "currency", "card_token", "description", "reference"})
    amount = _amount(body, "amount_cents")
    currency = _string(body, "currency", max_chars=MAX_TOKEN_CHARS)
    if not _CURRENCY.fullmatch(currency):
        raise InvalidRequest("currency must be three lowercase letters, like 'eur'")
    card_token = _string(body, "card_token", max_chars=MAX_TOKEN_CHARS)
    description = None
    if body.get("description") is not None:
        description = _string(body, "description", max_chars=MAX_DESCRIPTION_CHARS, empty=True)
    reference = None
    if body.get("reference") is not None:
        reference = _string(body, "reference", max_chars=MAX_TOKEN_CHARS)
    return ChargeRequest(amount, currency, card_token, description, reference)


def parse_refund_request(raw: bytes) -> RefundRequest:
    body = _json_object(raw, {"charge_id", "amount_cents"})
    amount = None if body.get("amount_cents") is None else _amount(body, "amount_cents")
    return RefundRequest(
        charge_id=_string(body, "charge_id", max_chars=MAX_TOKEN_CHARS), amount_cents=amount
    )


def _json_object(raw: bytes, fields: set[str]) -> dict[str, object]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("request body must be valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    for name in body:
        if name not in fields:
            raise InvalidRequest(f"unknown field: {name}")
    return body


def _amount(body: dict[str, object], name: str) -> int:
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be an integer number of cents")
    if not 0 < value <= MAX_AMOUNT_CENTS:
        raise InvalidRequest(f"{name} must be between 1 and {MAX_AMOUNT_CENTS}")
    return value


def _string(body: dict[str, object], name: str, *, max_chars: int, empty: bool = False) -> str:
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"{name} is required")
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string")
    if not value and not empty:
        raise InvalidRequest(f"{name} must not be empty")
    if len(value) > max_chars:
        raise InvalidRequest(f"{name} must be at most {max_chars} characters")
    return value
