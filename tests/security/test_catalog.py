"""The catalog service against malformed input: v1 answers in the legacy error shape, v2
in problem+json, both 4xx, never a 500, and nothing is written."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio
SURROGATE = "\ud800"
JSON = {"content-type": "application/json"}


def with_escapes(value: Any) -> bytes:
    """`value` as JSON with `\\u` escapes, the way a client spells a lone surrogate."""
    return json.dumps(value).encode()


def product(**fields: Any) -> dict[str, Any]:
    return {"sku": uuid.uuid4().hex[:12], "name": "Teapot", "price_cents": 1999, "stock": 5} | (
        fields
    )


async def test_a_lone_surrogate_in_a_v2_product_is_a_400_problem_naming_the_field(
    catalog: httpx.AsyncClient,
) -> None:
    made = await catalog.post(
        "/v2/products", json=product(), headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert made.status_code == 201, made.text

    created = await catalog.post(
        "/v2/products",
        content=with_escapes(product(name=SURROGATE)),
        headers={**JSON, "Idempotency-Key": uuid.uuid4().hex},
    )
    renamed = await catalog.patch(
        f"/v2/products/{made.json()['id']}", content=with_escapes({"name": SURROGATE}), headers=JSON
    )

    for refused in (created, renamed):
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"] == "urn:strangler-kit:problem:invalid-request"
        assert problem["detail"].startswith("name "), problem
    kept = await catalog.get(f"/v2/products/{made.json()['id']}")
    assert kept.json()["name"] == "Teapot"


async def test_a_lone_surrogate_in_a_v1_product_is_a_400_validation_error_as_legacy_says(
    catalog: httpx.AsyncClient,
) -> None:
    sku = uuid.uuid4().hex[:12]

    response = await catalog.post(
        "/products", content=with_escapes(product(sku=sku, name=SURROGATE)), headers=JSON
    )

    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "validation_error",
        "message": "name must be valid Unicode text (it holds a lone surrogate)",
    }
    listed = await catalog.get("/v2/products", params={"sku": sku})
    assert listed.json()["products"] == []
