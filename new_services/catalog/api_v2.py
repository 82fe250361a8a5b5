"""HTTP edge, v2: products by UUID, cursor pages, filters, ETags, problem+json, Idempotency-Key."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from new_services.catalog.errors import ProductNotFound
from new_services.catalog.model import (
    SKU,
    NewProduct,
    Product,
    ProductChange,
    int_between,
    product_problem,
)
from new_services.catalog.service import CatalogService
from new_services.platform.http import (
    MAX_PAGE,
    cached_json,
    decode_cursor,
    dry_run_headers,
    encode_cursor,
    is_dry_run,
    json_object,
    page_size,
    read_body,
    wants_fresh,
)
from new_services.platform.idempotency import IdempotencyStore, idempotent
from new_services.platform.problems import InvalidRequest
from new_services.platform.v1 import MAX_ID


class Wiring:
    """What the composition root builds in the lifespan, for the handlers to use."""

    service: CatalogService
    keys: IdempotencyStore


def _product_uuid(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["product_id"])
    except ValueError as exc:
        raise ProductNotFound(f"no product {request.path_params['product_id']}") from exc


def _valid(body: bytes, partial: bool) -> dict[str, Any]:
    fields = json_object(body)
    problem = product_problem(fields, partial)
    if problem is not None:
        raise InvalidRequest(problem)
    return fields


def _legacy_ids(request: Request) -> list[int] | None:
    raw = request.query_params.getlist("legacy_id")
    if not raw:
        return None
    if len(raw) > MAX_PAGE:
        raise InvalidRequest(f"at most {MAX_PAGE} legacy_id values per request")
    if not all(value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ID for value in raw):
        raise InvalidRequest("legacy_id must be a positive 64-bit integer")
    return sorted({int(value) for value in raw})


def _after(request: Request) -> int:
    cursor = request.query_params.get("cursor")
    if cursor is None:
        return 0
    after = decode_cursor(cursor).get("after")
    if not isinstance(after, int) or not int_between(after, 0, MAX_ID):
        raise InvalidRequest("cursor is not one this service gave out")
    return after


class ProductsV2:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            # one route per path, so a wrong method gets 405 with the full Allow header
            Route("/v2/products", self.collection, methods=["GET", "POST"]),
            Route("/v2/products/{product_id}", self.item, methods=["GET", "PATCH", "DELETE"]),
        ]

    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        return await self.list_products(request)

    async def item(self, request: Request) -> Response:
        if request.method == "PATCH":
            return await self.change(request)
        if request.method == "DELETE":
            return await self.delete(request)
        service = self._wiring.service
        product = await service.product_by_uuid(_product_uuid(request), wants_fresh(request))
        return cached_json(request, product.v2_json())

    async def list_products(self, request: Request) -> Response:
        """By legacy id, `limit` per page (at most 100); `next` is the next page's cursor.
        Filters: `sku`, and `legacy_id` (repeatable, up to 100: how orders prices a cart)."""
        limit, after = page_size(request), _after(request)
        sku = request.query_params.get("sku")
        if sku is not None and not SKU.fullmatch(sku):  # names none: 400, not a search for it
            raise InvalidRequest("sku must be 1-64 characters of A-Z a-z 0-9 - _")
        ids = _legacy_ids(request)
        service = self._wiring.service
        found: list[Product]
        if ids is None:
            found = await service.page(after, limit + 1, sku)
        else:
            wanted = [i for i in ids if i > after]
            by_id = await service.products(wanted)  # through the cache
            found = [by_id[i] for i in wanted if i in by_id and sku in (None, by_id[i].sku)]
        page = found[:limit]
        body: dict[str, Any] = {"products": [p.v2_json() for p in page], "next": None}
        if len(found) > limit:
            body["next"] = encode_cursor({"after": page[-1].id})
        return cached_json(request, body)

    async def create(self, request: Request) -> Response:
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            new = NewProduct.of(_valid(body, partial=False))
            product = await self._wiring.service.create(new, dry_run=dry_run)
            headers = {"Location": f"/v2/products/{product.uuid}"}
            if dry_run:
                headers.update(
                    dry_run_headers("$.id", "$.legacy_id", "$.created_at", "$.updated_at")
                )
            return JSONResponse(product.v2_json(), status_code=201, headers=headers)

        return await idempotent(
            request, self._wiring.keys, run, scope="POST /v2/products", dry_run=dry_run
        )

    async def change(self, request: Request) -> Response:
        product_uuid, dry_run = _product_uuid(request), is_dry_run(request)
        change = ProductChange.of(_valid(await read_body(request), partial=True))
        service = self._wiring.service
        product = await service.product_by_uuid(product_uuid)
        changed = await service.change(product.id, change, dry_run=dry_run)
        headers = dry_run_headers("$.updated_at") if dry_run else None
        return JSONResponse(changed.v2_json(), headers=headers)

    async def delete(self, request: Request) -> Response:
        product_uuid, dry_run = _product_uuid(request), is_dry_run(request)
        service = self._wiring.service
        product = await service.product_by_uuid(product_uuid)
        await service.delete(product.id, dry_run=dry_run)
        return Response(status_code=204, headers=dry_run_headers() if dry_run else None)
