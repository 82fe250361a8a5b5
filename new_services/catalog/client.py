"""The catalog as other domains use it: a client of the catalog service's v2 HTTP API.

The only module of this package another domain may import. Pass it an
`httpx.AsyncClient` whose base_url is the catalog service (tests pass one over
`httpx.ASGITransport`).

CatalogError
├── CatalogUnavailable   transport error, 5xx, or the same restock still in flight:
│                        whether it acted is unknown; retrying the same call is safe
├── NotEnoughStock       a hold was refused for `product_id`; nothing was held
│   └── ProductUnavailable   because the product is deleted or unknown
├── HoldReleased         the hold was released (a release, or it expired) before it was
│                        committed, or a retried reserve found it so: its units are sold
│                        to whoever comes next
└── CatalogRefused       any other 4xx: the request itself was wrong (`status`, `problem`)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from new_services.platform import dry_run as dry_runs
from new_services.platform.clients import answer_object
from new_services.platform.problems import TYPE_PREFIX

MAX_ID = 2**63 - 1
CHUNK = 100  # legacy ids per request: the v2 API's page and filter limit


class CatalogError(Exception):
    pass


class CatalogUnavailable(CatalogError):
    pass


class NotEnoughStock(CatalogError):
    def __init__(self, product_id: int) -> None:
        super().__init__(product_id)
        self.product_id = product_id


class ProductUnavailable(NotEnoughStock):
    pass


class HoldReleased(CatalogError):
    pass


class CatalogRefused(CatalogError):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


@dataclass(frozen=True)
class CatalogProduct:
    id: int  # the legacy id
    uuid: uuid.UUID
    sku: str
    name: str
    price_cents: int
    stock: int


def _lines(lines: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}


class CatalogClient:
    def __init__(self, http: httpx.AsyncClient, dry_run_key: str | None = None) -> None:
        """`dry_run_key` signs the dry-run holds of a dry-run checkout (platform/dry_run.py)."""
        self._http = http
        self._dry_run_key = dry_run_key

    async def _send(
        self, method: str, url: str, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        """The answer when its status is one of `ok` (or a 4xx for the caller to read)."""
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise CatalogUnavailable(f"the catalog did not answer {method} {url}: {exc}") from exc
        if response.status_code >= 500:
            raise CatalogUnavailable(
                f"the catalog answered {method} {url} with {response.status_code}"
            )
        if response.status_code not in ok and response.status_code < 400:
            raise CatalogUnavailable(f"unexpected {response.status_code} to {method} {url}")
        return response

    async def products(self, ids: Sequence[int]) -> dict[int, CatalogProduct]:
        """The live products among `ids`; unknown and deleted ones are simply absent."""
        wanted = sorted({i for i in ids if 1 <= i <= MAX_ID})
        found: dict[int, CatalogProduct] = {}
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            params = [("limit", str(CHUNK)), *(("legacy_id", str(i)) for i in chunk)]
            response = await self._send("GET", "/v2/products", (200,), params=params)
            if response.status_code != 200:
                raise CatalogRefused(response.status_code, answer_object(response))
            for raw in response.json()["products"]:
                product = CatalogProduct(
                    id=raw["legacy_id"],
                    uuid=uuid.UUID(raw["id"]),
                    sku=raw["sku"],
                    name=raw["name"],
                    price_cents=raw["price_cents"],
                    stock=raw["stock"],
                )
                found[product.id] = product
        return found

    async def reserve(
        self, hold: uuid.UUID, lines: Sequence[tuple[int, int]], dry_run: bool = False
    ) -> None:
        """Hold (product id, quantity) for every line, all or none, under the caller's
        `hold` id; again with the same id holds nothing more. Raises NotEnoughStock, or its
        subclass ProductUnavailable for a deleted or unknown product."""
        url = f"/v2/holds/{hold}"
        headers = {}
        if dry_run:
            target = self._http.build_request("PUT", url).url.raw_path.decode("ascii")
            proof = dry_runs.sign(self._dry_run_key or "", "PUT", target)
            headers[dry_runs.HEADER] = proof
        response = await self._send("PUT", url, (200, 201), json=_lines(lines), headers=headers)
        body = answer_object(response)
        if response.status_code == 409 and body.get("type") == TYPE_PREFIX + "out-of-stock":
            raise NotEnoughStock(int(body["product_id"]))
        if response.status_code == 422 and body.get("type") == TYPE_PREFIX + "product-unavailable":
            raise ProductUnavailable(int(body["product_id"]))
        if response.status_code >= 400:
            raise CatalogRefused(response.status_code, body)
        if body.get("state") == "released":
            raise HoldReleased(f"hold {hold} was released")

    async def release(self, hold: uuid.UUID) -> None:
        """Put the hold's units back; an unknown hold is fine (nothing was held), and a
        committed one stays sold."""
        response = await self._send("POST", f"/v2/holds/{hold}/release", (200,))
        if response.status_code not in (200, 404):
            raise CatalogRefused(response.status_code, answer_object(response))

    async def commit(self, hold: uuid.UUID) -> None:
        """The order is placed: the units stay sold. Raises HoldReleased when too late."""
        response = await self._send("POST", f"/v2/holds/{hold}/commit", (200,))
        problem = answer_object(response)
        if response.status_code == 409 and problem.get("type") == TYPE_PREFIX + "hold-released":
            raise HoldReleased(str(problem.get("detail")))
        if response.status_code >= 400:
            raise CatalogRefused(response.status_code, problem)

    async def restock(self, key: str, lines: Sequence[tuple[int, int]]) -> None:
        """Put units back (a cancelled order) once per `key`; deleted products are skipped."""
        response = await self._send(
            "POST", "/v2/restocks", (201,), json=_lines(lines), headers={"Idempotency-Key": key}
        )
        problem = answer_object(response)
        if (
            response.status_code == 409
            and problem.get("type") == TYPE_PREFIX + "idempotency-key-in-use"
        ):
            raise CatalogUnavailable(f"restock {key} is still being made; retry")
        if response.status_code >= 400:
            raise CatalogRefused(response.status_code, problem)
