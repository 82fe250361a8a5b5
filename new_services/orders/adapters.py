"""The ports to other domains, over HTTP: users, catalog, payments.

Each translates the other side's answers into the port's terms and its failures into
`Unavailable` (`raise ... from exc`), so checkout never sees an httpx error.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

import httpx

from new_services.catalog import client as catalog
from new_services.orders.model import CartLine, Charge, Customer, Product, Refund
from new_services.orders.ports import (
    CapturedPayment,
    CardUnknown,
    Declined,
    KeyReused,
    NotEnoughStock,
    ProductGone,
    RefundRefused,
    RefundUnderWay,
    Unavailable,
    Voided,
)
from new_services.platform.clients import answer_object
from new_services.platform.problems import TYPE_PREFIX
from new_services.users import client as users

VOIDED = TYPE_PREFIX + "payment-voided"  # payments gave the payment up: final
PROVIDER_REFUSED = TYPE_PREFIX + "provider-refused"  # the provider did nothing: none pending
KEY_IN_USE = TYPE_PREFIX + "idempotency-key-in-use"  # the same request is being made
# The legacy `users.id` column is an INTEGER: 32 bits on PostgreSQL, where the legacy app
# fails (500) on a larger id instead of finding nothing; so do the orders' own user_id
# columns. A larger id names no user, and is not asked about.
MAX_USER_ID = 2**31 - 1
KEY_REUSED = TYPE_PREFIX + "idempotency-key-reused"  # the key is another payment's: final
CARD_INVALID = TYPE_PREFIX + "card-invalid"  # the provider knows no such card: final


class UsersAdapter:
    """The users service, through the client it publishes (`new_services.users.client`).

    Users found are remembered (a bounded LRU, per process): neither the users service nor
    the legacy app can change a user's e-mail or name or delete one, so an entry cannot go
    stale through them. A user not found is never remembered: it may be created a moment
    later."""

    def __init__(self, client: users.UsersClient, remember: int = 10_000) -> None:
        self._client = client
        self._known: OrderedDict[int, Customer] = OrderedDict()
        self._remember = remember

    async def get(self, user_id: int) -> Customer | None:
        if not 1 <= user_id <= MAX_USER_ID:
            return None
        known = self._known.get(user_id)
        if known is not None:
            self._known.move_to_end(user_id)
            return known
        found = await self._ask(user_id)
        if found is not None:
            self._known[user_id] = found
            if len(self._known) > self._remember:
                self._known.popitem(last=False)
        return found

    async def _ask(self, user_id: int) -> Customer | None:
        try:
            account = await self._client.user(user_id)
        except users.UsersError as exc:
            raise Unavailable(f"the users service did not answer: {exc}") from exc
        return None if account is None else Customer(account.id, account.email, account.name)


class CatalogAdapter:
    """The catalog service, through the client it publishes (`new_services.catalog.client`)."""

    def __init__(self, client: catalog.CatalogClient) -> None:
        self._client = client

    async def products(self, ids: Sequence[int]) -> dict[int, Product]:
        try:
            found = await self._client.products(ids)
        except catalog.CatalogUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return {i: Product(p.id, p.name, p.price_cents, p.stock) for i, p in found.items()}

    async def reserve(
        self, reservation: uuid.UUID, lines: Sequence[CartLine], dry_run: bool = False
    ) -> None:
        pairs = [(line.product_id, line.quantity) for line in lines]
        try:
            await self._client.reserve(reservation, pairs, dry_run=dry_run)
        except catalog.ProductUnavailable as exc:
            raise ProductGone(exc.product_id) from exc
        except catalog.NotEnoughStock as exc:
            raise NotEnoughStock(exc.product_id) from exc
        except (catalog.CatalogUnavailable, catalog.HoldReleased) as exc:
            raise Unavailable(str(exc)) from exc

    async def release(self, reservation: uuid.UUID) -> None:
        try:
            await self._client.release(reservation)
        except catalog.CatalogUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def restock(self, key: str, lines: Sequence[CartLine]) -> None:
        try:
            await self._client.restock(key, [(line.product_id, line.quantity) for line in lines])
        except catalog.CatalogError as exc:
            raise Unavailable(str(exc)) from exc


class PaymentsClient:
    """The payments service's v2 API; every call carries an Idempotency-Key."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def charge(
        self, order: uuid.UUID, amount_cents: int, card_token: str, description: str, key: str
    ) -> Charge:
        body = {
            "order_ref": str(order),
            "amount_cents": amount_cents,
            "currency": "usd",
            "card_token": card_token,
            "description": description,
        }
        response = await self._post("/v2/payments", body, key)
        # Only no answer, or a 5xx (payments or its provider did not answer), is Unavailable:
        # checkout calls that retryable. A refusal is final under the key (replayed).
        kind, detail = answer_object(response).get("type"), answer_object(response).get("detail")
        said = str(detail or response.status_code)
        if response.status_code == 402:
            raise CardUnknown(said) if kind == CARD_INVALID else Declined(said)
        if response.status_code == 422 and kind == KEY_REUSED:
            raise KeyReused(said)
        if response.status_code == 409 and kind == VOIDED:
            raise Voided(said)
        if response.status_code != 201:
            raise Unavailable(f"payments answered {response.status_code}: {response.text[:200]}")
        payment = response.json()
        return Charge(payment["id"], payment["provider_charge_id"])

    async def refund(self, payment_id: str, key: str) -> Refund:
        path = f"/v2/payments/{payment_id}/refunds"
        try:
            response = await self._http.post(path, json={}, headers={"Idempotency-Key": key})
        except httpx.ConnectError as exc:  # payments was not reached: it did nothing
            raise RefundRefused(f"payments did not answer: {exc}") from exc
        except httpx.HTTPError as exc:  # it may have started the refund
            raise RefundUnderWay(f"payments' answer was lost: {exc}") from exc
        status = response.status_code
        if status == 201:
            refund = response.json()
            return Refund(refund["provider_refund_id"], refund["amount_cents"])
        said = f"payments answered {status}: {response.text[:200]}"
        kind = answer_object(response).get("type")
        if kind == PROVIDER_REFUSED or (400 <= status < 500 and kind != KEY_IN_USE):
            raise RefundRefused(said)  # a refusal, or the provider did nothing: none pending
        # 202: pending at payments; 409 key in use: the same refund is being made right now;
        # another 5xx: payments cannot tell
        raise RefundUnderWay(said)

    async def adopt(self, order: uuid.UUID, charge_id: str) -> str:
        path = f"/v2/adopted-charges/{quote(charge_id, safe='')}"
        try:
            response = await self._http.put(path, json={"order_ref": str(order)})
        except httpx.HTTPError as exc:
            raise Unavailable(f"payments did not answer: {exc}") from exc
        if response.status_code != 200:
            raise Unavailable(f"payments answered {response.status_code}: {response.text[:200]}")
        return str(response.json()["id"])

    async def captured(self, since: datetime, until: datetime) -> list[CapturedPayment]:
        found: list[CapturedPayment] = []
        params: dict[str, str] = {"status": "captured", "limit": "100"}
        while True:  # newest first, page by page, back to `since`
            try:
                response = await self._http.get("/v2/payments", params=params)
            except httpx.HTTPError as exc:
                raise Unavailable(f"payments did not answer: {exc}") from exc
            if response.status_code != 200:
                raise Unavailable(f"payments answered {response.status_code}")
            page = response.json()
            for payment in page["payments"]:
                made = datetime.fromisoformat(payment["created_at"].replace("Z", "+00:00"))
                if made < since:
                    return found
                if made <= until:
                    found.append(CapturedPayment(payment["id"], _uuid(payment["order_ref"]), made))
            if not page["next"]:
                return found
            params["cursor"] = page["next"]

    async def abandon(self, payment_id: str) -> None:
        path = f"/v2/payments/{payment_id}/abandonment"
        try:
            response = await self._http.post(path)
        except httpx.HTTPError as exc:
            raise Unavailable(f"payments did not answer: {exc}") from exc
        if response.status_code != 200:
            raise Unavailable(f"payments answered {response.status_code}: {response.text[:200]}")

    async def _post(self, path: str, body: dict[str, object], key: str) -> httpx.Response:
        try:
            return await self._http.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            raise Unavailable(f"payments did not answer: {exc}") from exc


def _uuid(reference: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(reference)
    except ValueError:
        return None
