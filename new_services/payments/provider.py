"""The payment provider, behind a port: charges and refunds, each with an Idempotency-Key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from new_services.payments.errors import (
    CardDeclined,
    CardInvalid,
    ProviderBusy,
    ProviderRefused,
    ProviderUnavailable,
)
from new_services.platform.problems import InvalidRequest

log = logging.getLogger(__name__)
T = TypeVar("T")
UNKNOWN_CARD = "invalid_card_token"  # the provider's error type for a token it does not know


@dataclass(frozen=True)
class ProviderCharge:
    id: str


@dataclass(frozen=True)
class ChargeOnRecord:
    """A charge as the provider keeps it."""

    id: str
    amount_cents: int
    currency: str
    refunded_cents: int
    captured: bool  # False: declined, nothing was taken


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    amount_cents: int


class Provider(Protocol):
    async def charge(
        self,
        amount_cents: int,
        currency: str,
        card_token: str,
        description: str,
        key: str,
        reference: str | None,
    ) -> ProviderCharge:
        """`reference`: ours for the charge, which `find` looks it up by (None: sent
        without one, as a payment made before references was first sent)."""
        ...

    async def refund(self, charge_id: str, amount_cents: int, key: str) -> ProviderRefund: ...

    async def lookup(self, charge_id: str) -> ChargeOnRecord | None:
        """The provider's record of a charge; None when it has none."""
        ...

    async def find(self, reference: str) -> list[ChargeOnRecord]:
        """Every charge made with `reference`, declined ones included."""
        ...

    async def refunds_of(self, charge_id: str) -> list[ProviderRefund]:
        """Every refund the provider made of a charge, whoever asked for it."""
        ...


class HttpProvider:
    """The provider's HTTP API (stand_ins/payments, or a real one with the same shape).

    Timeouts are short on purpose: a slow provider makes checkouts fail fast with 502,
    and the client's retry, carrying the same key, cannot charge twice."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def charge(
        self,
        amount_cents: int,
        currency: str,
        card_token: str,
        description: str,
        key: str,
        reference: str | None,
    ) -> ProviderCharge:
        body: dict[str, Any] = {
            "amount_cents": amount_cents,
            "currency": currency,
            "card_token": card_token,
            "description": description,
        }
        if reference is not None:  # the same body on every attempt: the key checks it
            body["reference"] = reference
        answer = await self._post("/v1/charges", body, key)
        return ProviderCharge(str(answer["id"]))

    async def refund(self, charge_id: str, amount_cents: int, key: str) -> ProviderRefund:
        body = {"charge_id": charge_id, "amount_cents": amount_cents}
        answer = await self._post("/v1/refunds", body, key)
        try:
            return ProviderRefund(str(answer["id"]), int(answer["amount_cents"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderUnavailable("the provider's answer could not be read") from exc

    async def lookup(self, charge_id: str) -> ChargeOnRecord | None:
        response = await self._get(f"/v1/charges/{quote(charge_id, safe='')}")
        if response.status_code == 404:
            return None
        return _read(response, _on_record)

    async def find(self, reference: str) -> list[ChargeOnRecord]:
        response = await self._get("/v1/charges", {"reference": reference})
        return _read(response, lambda body: [_on_record(c) for c in body["charges"]])

    async def refunds_of(self, charge_id: str) -> list[ProviderRefund]:
        response = await self._get("/v1/refunds", {"charge_id": charge_id})
        return _read(
            response,
            lambda body: [
                ProviderRefund(str(r["id"]), int(r["amount_cents"])) for r in body["refunds"]
            ],
        )

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"the provider did not answer: {type(exc).__name__}") from exc

    async def _post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"the provider did not answer: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 402:
            raise CardDeclined("the card was declined by its issuer")
        if status == 409:  # our key is still being worked on there: ask again later
            raise ProviderBusy("the provider is still processing this payment; retry")
        if status == 400 and _error_type(response) == UNKNOWN_CARD:
            raise CardInvalid(f"the provider refused the card: {_error(response)}")
        if status == 400:
            raise InvalidRequest(f"the provider refused the request: {_error(response)}")
        if status == 503:
            raise ProviderRefused(f"the provider did nothing: {_error(response)}")
        if status >= 300:  # 422 (a key reused with another body) would be our bug: say so
            log.error("provider answered %s to %s: %s", status, path, _error(response))
            raise ProviderUnavailable(f"the provider answered {status}")
        try:
            answer: dict[str, Any] = response.json()
            answer["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable("the provider's answer could not be read") from exc
        return answer


def _read(response: httpx.Response, parse: Callable[[Any], T]) -> T:
    if response.status_code != 200:
        raise ProviderUnavailable(f"the provider answered {response.status_code}")
    try:
        return parse(response.json())
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderUnavailable("the provider's answer could not be read") from exc


def _on_record(charge: Any) -> ChargeOnRecord:
    return ChargeOnRecord(
        id=str(charge["id"]),
        amount_cents=int(charge["amount_cents"]),
        currency=str(charge["currency"]),
        refunded_cents=int(charge["refunded_cents"]),
        captured=charge["status"] != "declined",
    )


def _error_type(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["type"])
    except (ValueError, KeyError, TypeError):
        return None


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
