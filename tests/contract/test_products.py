"""Products: the catalogue's create, read, update and delete, and their validation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.contract.support import MISSING_ID, PRODUCT_KEYS, assert_error, unique_sku

Json = dict[str, Any]
MakeProduct = Callable[..., Json]


def test_a_new_product_is_created_and_can_be_read_back(shop: httpx.Client) -> None:
    sku = unique_sku()
    body = {"sku": sku, "name": "Teapot", "price_cents": 1_999, "stock": 7}

    response = shop.post("/products", json=body)

    assert response.status_code == 201
    product = response.json()
    assert set(product) == PRODUCT_KEYS
    assert isinstance(product["id"], int)
    assert product == {"id": product["id"], **body}
    fetched = shop.get(f"/products/{product['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == product


def test_the_catalogue_lists_every_product_by_id(
    shop: httpx.Client, make_product: MakeProduct
) -> None:
    first, second = make_product(), make_product()

    response = shop.get("/products")

    assert response.status_code == 200
    assert set(response.json()) == {"products"}
    products = response.json()["products"]
    ids = [p["id"] for p in products]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    assert first in products
    assert second in products
    assert ids.index(first["id"]) < ids.index(second["id"])


def test_a_sku_can_be_used_only_once(shop: httpx.Client, make_product: MakeProduct) -> None:
    taken = make_product()

    again = shop.post(
        "/products", json={"sku": taken["sku"], "name": "Copy", "price_cents": 1, "stock": 1}
    )

    assert_error(again, 409, "sku_taken")


@pytest.mark.parametrize(
    "field_values",
    [
        pytest.param({"price_cents": 0}, id="price-zero"),
        pytest.param({"price_cents": 100_000_000}, id="price-max"),
        pytest.param({"stock": 0}, id="stock-zero"),
        pytest.param({"stock": 1_000_000}, id="stock-max"),
        pytest.param({"name": "n" * 200}, id="name-200-chars"),
    ],
)
def test_a_product_at_the_limits_is_accepted(
    shop: httpx.Client, field_values: dict[str, Any]
) -> None:
    body = {"sku": unique_sku(), "name": "Limit", "price_cents": 5, "stock": 5, **field_values}

    response = shop.post("/products", json=body)

    assert response.status_code == 201, response.text
    assert response.json() == {"id": response.json()["id"], **body}


@pytest.mark.parametrize(
    "make_sku",
    [
        pytest.param(lambda: unique_sku().ljust(64, "x"), id="64-chars"),
        pytest.param(lambda: f"aZ09-_{uuid.uuid4().hex}", id="every-kind-of-char"),
    ],
)
def test_a_sku_of_letters_digits_dashes_and_underscores_is_accepted(
    shop: httpx.Client, make_sku: Callable[[], str]
) -> None:
    sku = make_sku()

    response = shop.post("/products", json={"sku": sku, "name": "S", "price_cents": 1, "stock": 1})

    assert response.status_code == 201, response.text
    assert response.json()["sku"] == sku


INVALID_PRODUCT_FIELDS = [
    pytest.param({"sku": ""}, id="sku-empty"),
    pytest.param({"sku": "has space"}, id="sku-with-space"),
    pytest.param({"sku": "dot.ted"}, id="sku-with-dot"),
    pytest.param({"sku": "umlaut-ü"}, id="sku-non-ascii"),
    pytest.param({"sku": "S" * 65}, id="sku-65-chars"),
    pytest.param({"sku": 12345}, id="sku-not-a-string"),
    pytest.param({"name": ""}, id="name-empty"),
    pytest.param({"name": "  "}, id="name-blank"),
    pytest.param({"name": "n" * 201}, id="name-over-200"),
    pytest.param({"name": None}, id="name-null"),
    pytest.param({"price_cents": -1}, id="price-negative"),
    pytest.param({"price_cents": 100_000_001}, id="price-over-max"),
    pytest.param({"price_cents": True}, id="price-bool"),
    pytest.param({"price_cents": 9.5}, id="price-fraction"),
    pytest.param({"price_cents": 10.0}, id="price-float"),
    pytest.param({"price_cents": "100"}, id="price-string"),
    pytest.param({"stock": -1}, id="stock-negative"),
    pytest.param({"stock": 1_000_001}, id="stock-over-max"),
    pytest.param({"stock": False}, id="stock-bool"),
    pytest.param({"stock": 2.0}, id="stock-float"),
    pytest.param({"stock": None}, id="stock-null"),
]


@pytest.mark.parametrize(
    "field_values",
    [
        *INVALID_PRODUCT_FIELDS,
        pytest.param({"sku": ...}, id="sku-missing"),
        pytest.param({"name": ...}, id="name-missing"),
        pytest.param({"price_cents": ...}, id="price-missing"),
        pytest.param({"stock": ...}, id="stock-missing"),
    ],
)
def test_an_invalid_product_is_refused(shop: httpx.Client, field_values: dict[str, Any]) -> None:
    sku = unique_sku()
    body = {"sku": sku, "name": "Valid", "price_cents": 100, "stock": 1, **field_values}
    body = {key: value for key, value in body.items() if value is not ...}

    response = shop.post("/products", json=body)

    assert_error(response, 400, "validation_error")
    if body.get("sku") == sku:  # refused means not created: the SKU is still free
        valid = {"sku": sku, "name": "Valid", "price_cents": 100, "stock": 1}
        assert shop.post("/products", json=valid).status_code == 201


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"name": "Renamed"}, id="name"),
        pytest.param({"price_cents": 4_321}, id="price"),
        pytest.param({"stock": 0}, id="stock"),
        pytest.param({"name": "All", "price_cents": 1, "stock": 99}, id="all-three"),
    ],
)
def test_a_product_can_be_changed_in_part(
    shop: httpx.Client, make_product: MakeProduct, change: dict[str, Any]
) -> None:
    product = make_product(price_cents=1_000, stock=10)

    response = shop.patch(f"/products/{product['id']}", json=change)

    assert response.status_code == 200, response.text
    assert response.json() == {**product, **change}
    assert shop.get(f"/products/{product['id']}").json() == {**product, **change}


@pytest.mark.parametrize(
    "change",
    [
        *INVALID_PRODUCT_FIELDS[6:],
        pytest.param({}, id="empty-body"),
        pytest.param({"sku": "NEW-SKU"}, id="sku-is-not-changeable"),
        pytest.param({"colour": "red"}, id="unknown-field"),
        pytest.param({"name": "Fine", "colour": "red"}, id="valid-and-unknown-field"),
        pytest.param({"id": 1}, id="id-is-not-changeable"),
    ],
)
def test_an_invalid_product_change_is_refused_and_changes_nothing(
    shop: httpx.Client, make_product: MakeProduct, change: dict[str, Any]
) -> None:
    product = make_product()

    response = shop.patch(f"/products/{product['id']}", json=change)

    assert_error(response, 400, "validation_error")
    assert shop.get(f"/products/{product['id']}").json() == product


def test_changing_an_unknown_product_is_not_found(shop: httpx.Client) -> None:
    response = shop.patch(f"/products/{MISSING_ID}", json={"name": "Ghost"})

    assert_error(response, 404, "product_not_found")


def test_a_deleted_product_is_gone(shop: httpx.Client, make_product: MakeProduct) -> None:
    product = make_product()

    response = shop.delete(f"/products/{product['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_error(shop.get(f"/products/{product['id']}"), 404, "product_not_found")
    assert product["id"] not in [p["id"] for p in shop.get("/products").json()["products"]]
    assert_error(shop.delete(f"/products/{product['id']}"), 404, "product_not_found")
    patch = shop.patch(f"/products/{product['id']}", json={"name": "Back"})
    assert_error(patch, 404, "product_not_found")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_an_unknown_product_is_not_found(shop: httpx.Client, method: str) -> None:
    response = shop.request(method, f"/products/{MISSING_ID}")

    assert_error(response, 404, "product_not_found")
