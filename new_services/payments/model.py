"""Payments and refunds, and the commands that make them: pure data and rules, no I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from new_services.platform.problems import InvalidRequest

MAX_AMOUNT_CENTS = 2**31 - 1  # what the Integer money columns hold, as the orders table's total
_CURRENCY = re.compile(r"[a-z]{3}")
_ORDER_REF = re.compile(r"[A-Za-z0-9_\-:]{1,64}")
# Payment ids are derived from the client's Idempotency-Key: a retry after a lost answer
# names the same payment, and so the same provider key: the provider cannot charge twice.
_IDS = uuid.UUID("5b3f8a4e-2f0e-4d6a-9f53-7c1d0e9a4b21")


class PaymentStatus(StrEnum):
    PENDING = "pending"  # written before the provider is called; resumed by a retry
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    # Given up on by the settler (service.settle): the provider never charged it, or its
    # charge was given back. Final: a late retry of its key is refused, not resumed.
    VOIDED = "voided"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Payment:
    id: uuid.UUID
    order_ref: str
    amount_cents: int
    currency: str
    status: PaymentStatus
    provider_charge_id: str | None  # None while pending, and in a dry run
    refunded_cents: int
    created_at: datetime
    updated_at: datetime
    request_hash: str = ""  # of the ChargeOrder that made it (ChargeOrder.fingerprint)
    # What the provider knows its charge by (the payment's id; the settler finds it so).
    # None for a payment made before the provider was given one: its retries must send
    # what its first attempt sent, and the settler leaves it to a person.
    provider_reference: str | None = None

    @property
    def refundable_cents(self) -> int:
        return self.amount_cents - self.refunded_cents

    def refunded(self, amount_cents: int, at: datetime) -> Payment:
        total = self.refunded_cents + amount_cents
        status = (
            PaymentStatus.REFUNDED
            if total == self.amount_cents
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        return replace(self, refunded_cents=total, status=status, updated_at=at)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "order_ref": self.order_ref,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "status": self.status.value,
            "provider_charge_id": self.provider_charge_id,
            "refunded_cents": self.refunded_cents,
            "created_at": timestamp(self.created_at),
            "updated_at": timestamp(self.updated_at),
        }


class RefundStatus(StrEnum):
    PENDING = "pending"  # the amount is reserved on the payment; the provider was asked
    SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class Refund:
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_cents: int
    status: RefundStatus
    provider_refund_id: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "payment_id": str(self.payment_id),
            "amount_cents": self.amount_cents,
            "status": self.status.value,
            "provider_refund_id": self.provider_refund_id,
            "created_at": timestamp(self.created_at),
        }


def _fields(body: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(unknown)}")
    missing = sorted(required - set(body))
    if missing:
        raise InvalidRequest(f"missing field(s): {', '.join(missing)}")


def _amount(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AMOUNT_CENTS:
        raise InvalidRequest(f"{name} must be an integer from 1 to {MAX_AMOUNT_CENTS}")
    return value


@dataclass(frozen=True)
class ChargeOrder:
    """Take `amount_cents` for an order from a card."""

    order_ref: str
    amount_cents: int
    currency: str
    card_token: str
    description: str | None = None  # what the card statement says; `order <ref>` if None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ChargeOrder:
        _fields(
            body,
            {"order_ref", "amount_cents", "currency", "card_token", "description"},
            {"order_ref", "amount_cents", "card_token"},
        )
        order_ref, currency = body["order_ref"], body.get("currency", "usd")
        if not isinstance(order_ref, str) or not _ORDER_REF.fullmatch(order_ref):
            raise InvalidRequest("order_ref must be 1-64 characters of A-Z a-z 0-9 _ - :")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise InvalidRequest("currency must be three lowercase letters, like 'usd'")
        token = body["card_token"]
        if not isinstance(token, str) or not 1 <= len(token) <= 255:
            raise InvalidRequest("card_token must be a string of 1 to 255 characters")
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or not 1 <= len(description) <= 300
        ):
            raise InvalidRequest("description must be a string of 1 to 300 characters")
        amount = _amount(body["amount_cents"], "amount_cents")
        return cls(order_ref, amount, currency, token, description)

    def fingerprint(self) -> str:
        """Names this exact request, card included, without storing the card token."""
        raw = f"{self.order_ref}|{self.amount_cents}|{self.currency}|{self.card_token}"
        if self.description is not None:  # absent: the same hash as before the field existed
            raw += f"|{self.description}"
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class RefundPayment:
    """Give back `amount_cents` of a payment (all that is left when None)."""

    payment_id: uuid.UUID
    amount_cents: int | None

    @classmethod
    def parse(cls, payment_id: uuid.UUID, body: dict[str, Any]) -> RefundPayment:
        _fields(body, {"amount_cents"}, set())
        if "amount_cents" not in body:  # all that is left; an explicit null is a mistake
            return cls(payment_id, None)
        return cls(payment_id, _amount(body["amount_cents"], "amount_cents"))


@dataclass(frozen=True)
class AdoptCharge:
    """Take over a charge another system made at the provider (the legacy shop's, while
    both serve), so it can be refunded here. The provider's record, not the caller, says
    how much was charged and how much is already refunded."""

    charge_id: str
    order_ref: str

    @classmethod
    def parse(cls, charge_id: str, body: dict[str, Any]) -> AdoptCharge:
        _fields(body, {"order_ref"}, {"order_ref"})
        if not _ORDER_REF.fullmatch(charge_id):
            raise InvalidRequest("a charge id is 1-64 characters of A-Z a-z 0-9 _ - :")
        order_ref = body["order_ref"]
        if not isinstance(order_ref, str) or not _ORDER_REF.fullmatch(order_ref):
            raise InvalidRequest("order_ref must be 1-64 characters of A-Z a-z 0-9 _ - :")
        return cls(charge_id, order_ref)

    @property
    def payment_id(self) -> uuid.UUID:
        """One payment per charge, whoever asks and however often."""
        return uuid.uuid5(_IDS, f"adopted:{self.charge_id}")

    def fingerprint(self) -> str:
        return hashlib.sha256(f"adopted|{self.order_ref}|{self.charge_id}".encode()).hexdigest()


def payment_id_for(idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"payment:{idempotency_key}")


def refund_id_for(payment_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"refund:{payment_id}:{idempotency_key}")


def settler_refund_id(payment_id: uuid.UUID) -> uuid.UUID:
    """The one refund the settler gives a voided payment's charge back by (a name no
    client key maps to)."""
    return uuid.uuid5(_IDS, f"settler-refund:{payment_id}")


def provider_refund_id_for(provider_refund_id: str) -> uuid.UUID:
    """The one refund a refund made at the provider by someone else (legacy's cancel) is
    recorded under, however often it is reported."""
    return uuid.uuid5(_IDS, f"provider-refund:{provider_refund_id}")
