"""The catalog client against canned answers (httpx.MockTransport): each answer becomes the
result or the error other domains branch on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from new_services.catalog.client import (
    CatalogClient,
    CatalogRefused,
    CatalogUnavailable,
    HoldReleased,
    NotEnoughStock,
    ProductUnavailable,
)
from new_services.platform import dry_run

pytestmark = pytest.mark.anyio
PROBLEM = "urn:strangler-kit:problem:"
KEY = "dry-run-key-0123456789"


def client(answer: Callable[[httpx.Request], httpx.Response]) -> CatalogClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://catalog")
    return CatalogClient(http, KEY)


def problem(status: int, slug: str, **extensions: object) -> httpx.Response:
    body = {"type": PROBLEM + slug, "title": slug, "status": status, "detail": slug}
    return httpx.Response(status, json={**body, **extensions})


async def test_products_are_asked_for_in_chunks_of_a_hundred_valid_ids() -> None:
    asked: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get_list("legacy_id")
        asked.append(ids)
        products = [
            {
                "id": str(uuid.uuid4()),
                "legacy_id": int(i),
                "sku": f"S-{i}",
                "name": "P",
                "price_cents": 1,
                "stock": 2,
            }
            for i in ids
            if int(i) % 2
        ]
        return httpx.Response(200, json={"products": products, "next": None})

    found = await client(answer).products([*range(1, 251), 0, -3, 2**64, 5])
    assert [len(ids) for ids in asked] == [100, 100, 50]
    assert sorted(found) == list(range(1, 251, 2))
    assert found[5].sku == "S-5"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda _: httpx.Response(503), id="5xx"),
        pytest.param(lambda _: httpx.Response(302), id="redirect"),
        pytest.param(
            lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
            id="transport",
        ),
    ],
)
async def test_a_catalog_that_does_not_answer_is_unavailable(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    with pytest.raises(CatalogUnavailable):
        await client(answer).reserve(uuid.uuid4(), [(1, 1)])


async def test_a_refused_hold_names_its_product_and_a_gone_product_is_unavailable() -> None:
    with pytest.raises(NotEnoughStock) as short:
        await client(lambda _: problem(409, "out-of-stock", product_id=3)).reserve(
            uuid.uuid4(), [(3, 1)]
        )
    assert type(short.value) is NotEnoughStock and short.value.product_id == 3
    with pytest.raises(ProductUnavailable) as gone:
        await client(lambda _: problem(422, "product-unavailable", product_id=4)).reserve(
            uuid.uuid4(), [(4, 1)]
        )
    assert gone.value.product_id == 4
    with pytest.raises(CatalogRefused):
        await client(lambda _: problem(400, "invalid-request")).reserve(uuid.uuid4(), [(4, 0)])


async def test_a_reserve_and_a_restock_send_what_the_api_needs() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "x", "state": "held", "lines": []})

    hold = uuid.uuid4()
    await client(answer).reserve(hold, [(1, 2)], dry_run=True)
    await client(answer).restock("cancel-1", [(1, 2)])
    assert (seen[0].method, seen[0].url.path) == ("PUT", f"/v2/holds/{hold}")
    proof = seen[0].headers["x-strangler-shadow"]  # a dry run the catalog can prove
    assert dry_run.proven(KEY, proof, "PUT", f"/v2/holds/{hold}", time.time())
    assert seen[0].content == b'{"lines":[{"product_id":1,"quantity":2}]}'
    assert seen[1].headers["idempotency-key"] == "cancel-1"


async def test_release_of_an_unknown_hold_is_fine_and_a_late_commit_is_released() -> None:
    await client(lambda _: problem(404, "hold-not-found")).release(uuid.uuid4())
    with pytest.raises(HoldReleased):
        await client(lambda _: problem(409, "hold-released")).commit(uuid.uuid4())
    with pytest.raises(CatalogRefused):
        await client(lambda _: problem(404, "hold-not-found")).commit(uuid.uuid4())
    with pytest.raises(CatalogUnavailable):
        await client(lambda _: problem(409, "idempotency-key-in-use")).restock("k", [(1, 1)])
