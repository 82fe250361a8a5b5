"""HTTP edge, v1: the legacy shop's product endpoints, wire-compatible (legacy_app/API.md).

Same paths, statuses, bodies (byte for byte) and error codes as `legacy_app/app.py`.
DELETE is a soft delete: the row stays, with `deleted_at`, and the product answers 404
everywhere and is never listed, held or sold. One difference a client can see: a
deleted product's sku stays taken (`409 sku_taken`), where legacy's hard delete frees
it, because the unique constraint is the legacy one and the row is still there. Carts
belong to orders, which hides the lines of deleted products itself: this service never
touches `cart_items`. Reads go through the Redis cache (cache.py), not a per-process dict.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from new_services.catalog.api_v2 import Wiring
from new_services.catalog.model import NewProduct, ProductChange, product_problem
from new_services.platform.http import dry_run_headers, is_dry_run, wants_fresh
from new_services.platform.v1 import LegacyError, json_body, legacy_json, path_id


def _marked(response: Response, dry_run: bool, *placeholders: str) -> Response:
    if dry_run:
        response.headers.update(dry_run_headers(*placeholders))
    return response


async def _valid_body(request: Request, partial: bool) -> dict[str, object]:
    body = await json_body(request)
    problem = product_problem(body, partial)
    if problem is not None:
        raise LegacyError(400, "validation_error", problem)
    return body


class ProductsV1:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            Route("/products", self.collection, methods=["GET", "POST"]),
            Route("/products/{product_id:id}", self.item, methods=["GET", "PATCH", "DELETE"]),
        ]

    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        products = await self._wiring.service.every()
        return legacy_json({"products": [p.v1_json() for p in products]})

    async def item(self, request: Request) -> Response:
        product_id = path_id(request, "product_id")
        if request.method == "PATCH":
            return await self.change(request, product_id)
        if request.method == "DELETE":
            return await self.delete(request, product_id)
        product = await self._wiring.service.product(product_id, wants_fresh(request))
        return legacy_json(product.v1_json())

    async def create(self, request: Request) -> Response:
        dry_run = is_dry_run(request)
        body = await _valid_body(request, partial=False)
        product = await self._wiring.service.create(NewProduct.of(body), dry_run=dry_run)
        return _marked(legacy_json(product.v1_json(), status_code=201), dry_run, "$.id")

    async def change(self, request: Request, product_id: int) -> Response:
        dry_run = is_dry_run(request)
        body = await _valid_body(request, partial=True)
        product = await self._wiring.service.change(
            product_id, ProductChange.of(body), dry_run=dry_run
        )
        return _marked(legacy_json(product.v1_json()), dry_run)

    async def delete(self, request: Request, product_id: int) -> Response:
        dry_run = is_dry_run(request)
        await self._wiring.service.delete(product_id, dry_run=dry_run)
        return _marked(Response(status_code=204), dry_run)
