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


async def test_a_product_id_with_a_leading_zero_or_other_digits_names_nothing(
    catalog: httpx.AsyncClient,
) -> None:
    made = await catalog.post("/products", json=product())
    assert made.status_code == 201, made.text
    own = made.json()["id"]
    arabic = str(own).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))

    for path in (f"/products/0{own}", f"/products/{arabic}"):
        response = await catalog.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert (await catalog.get(f"/products/{own}")).json() == made.json()


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_sent_as_json_is_415_on_v1_and_v2_and_makes_nothing(
    catalog: httpx.AsyncClient, content_type: str | None
) -> None:
    sku = uuid.uuid4().hex[:12]
    body = json.dumps(product(sku=sku)).encode()
    headers = {} if content_type is None else {"content-type": content_type}

    v1 = await catalog.post("/products", content=body, headers=headers)
    v2 = await catalog.post(
        "/v2/products", content=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
    )

    assert v1.status_code == 415, v1.text
    assert v1.json() == {
        "error": "unsupported_media_type",
        "message": "send the body as Content-Type: application/json",
    }
    assert v2.status_code == 415, v2.text
    assert v2.headers["content-type"] == "application/problem+json"
    assert v2.json()["type"] == "urn:strangler-kit:problem:unsupported-media-type"
    listed = await catalog.get("/v2/products", params={"sku": sku})
    assert listed.json()["products"] == []
