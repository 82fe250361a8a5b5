"""Many buyers, few units: concurrent checkouts must never sell more than the stock.

The legacy shop reads the stock, calls the provider, then writes back what it read minus
the quantity (SMELL(stock-race) in legacy_app/app.py), so it oversells. A slow provider
widens that window until every concurrent checkout lands in it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import StackUrls
from tests.contract.support import Provider, card_token

Json = dict[str, Any]
STOCK = 5
BUYERS = 20
PROVIDER_LATENCY_MS = 200


class Oversold(AssertionError):
    """More sold than there was, or stock and charges that disagree with the orders."""


@pytest.fixture
def buyers_of_the_last_units(
    make_user: Callable[..., Json],
    make_product: Callable[..., Json],
    fill_cart: Callable[..., Json],
) -> tuple[Json, list[Json]]:
    """A product with STOCK units and BUYERS users with one of it in their cart each."""
    product = make_product(price_cents=2_000, stock=STOCK, name="Last few")
    buyers = [make_user() for _ in range(BUYERS)]
    for buyer in buyers:
        fill_cart(buyer, [(product, 1)])
    return product, buyers


@pytest.fixture
def checkout_path(request: pytest.FixtureRequest, stack_urls: StackUrls) -> str:
    """Which code path sells: the extracted services in the services modes, both in
    services-canary mode, else legacy (for a stack given by SHOP_URL, CONTRACT_TARGET says).
    On legacy, an oversell is expected; on both, it is possible."""
    if stack_urls.mode == "external":
        path = os.environ.get("CONTRACT_TARGET", "legacy")
    else:
        path = {
            "services": "extracted",
            "services-only": "extracted",
            "services-canary": "mixed",
        }.get(stack_urls.mode, "legacy")
    if path == "legacy":
        request.applymarker(
            pytest.mark.xfail(
                reason="legacy oversells: SMELL(stock-race); the extracted path must pass",
                raises=Oversold,
                strict=True,
            )
        )
    elif path == "mixed":
        # Half the buyers go through legacy, whose read-modify-write can undo a hold's
        # decrement: an oversell is possible, not certain (new_services/README.md).
        request.applymarker(
            pytest.mark.xfail(
                reason="legacy's SMELL(stock-race) also races the catalog's holds",
                raises=Oversold,
                strict=False,
            )
        )
    return path


def test_concurrent_checkouts_never_sell_more_than_the_stock(
    shop: httpx.Client,
    provider: Provider,
    buyers_of_the_last_units: tuple[Json, list[Json]],
    checkout_path: str,
) -> None:
    product, buyers = buyers_of_the_last_units
    token = card_token()  # one card for everybody: the provider lists its charges in one go
    provider.configure(latency_ms=PROVIDER_LATENCY_MS)
    start = threading.Barrier(BUYERS)

    # One client, a connection per buyer: its pool is thread-safe, and a client per buyer
    # would spend seconds building TLS contexts before the race even starts.
    limits = httpx.Limits(max_connections=BUYERS, max_keepalive_connections=BUYERS)
    with httpx.Client(base_url=shop.base_url, timeout=30, limits=limits) as client:

        def checkout(buyer: Json) -> httpx.Response:
            start.wait()
            return client.post(f"/users/{buyer['id']}/checkout", json={"card_token": token})

        with ThreadPoolExecutor(max_workers=BUYERS) as pool:
            responses = list(pool.map(checkout, buyers))
    provider.restore()

    outcomes = [(r.status_code, r.json().get("error")) for r in responses]
    assert set(outcomes) <= {(201, None), (409, "out_of_stock")}, outcomes
    sold = sum(status == 201 for status, _ in outcomes)
    assert sold >= 1
    stock = shop.get(f"/products/{product['id']}").json()["stock"]
    charged = [c for c in provider.charges(token) if c["status"] == "succeeded"]
    if sold > STOCK or stock != STOCK - sold or len(charged) != sold:
        raise Oversold(f"{STOCK} units: {sold} orders, {len(charged)} charges, stock now {stock}")
