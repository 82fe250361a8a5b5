"""A scripted walk through the running shop: user, cart, checkout, the charge and the e-mail."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

DEMO_PRODUCTS = [
    {"sku": "DEMO-MUG", "name": "Strangler fig mug", "price_cents": 1450, "stock": 100},
    {"sku": "DEMO-TEE", "name": "Legacy survivor T-shirt", "price_cents": 2400, "stock": 100},
]


def _check(response: httpx.Response, expected: int) -> Any:
    if response.status_code != expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}, expected {expected}: {response.text}"
        )
    return response.json() if response.content else None


def walk(
    shop_url: str, payments_url: str, mail_url: str, say: Callable[[str], None]
) -> dict[str, Any]:
    """Run the walk and return what it saw; raises RuntimeError on any unexpected answer."""
    stamp = f"{time.time_ns()}"
    with httpx.Client(base_url=shop_url, timeout=30) as shop:
        products = _check(shop.get("/products"), 200)["products"]
        by_sku = {p["sku"]: p for p in products}
        for wanted in DEMO_PRODUCTS:
            if wanted["sku"] not in by_sku:
                by_sku[wanted["sku"]] = _check(shop.post("/products", json=wanted), 201)
        mug, tee = by_sku["DEMO-MUG"], by_sku["DEMO-TEE"]
        for product in (mug, tee):
            say(f"1. product #{product['id']}: {product['name']}, {product['price_cents']} c")

        email = f"demo-{stamp}@example.com"
        user = _check(shop.post("/users", json={"email": email, "name": "Demo Customer"}), 201)
        say(f"2. created user #{user['id']} <{email}>")

        shop.post(f"/users/{user['id']}/cart/items", json={"product_id": mug["id"], "quantity": 2})
        cart = _check(
            shop.post(
                f"/users/{user['id']}/cart/items", json={"product_id": tee["id"], "quantity": 1}
            ),
            200,
        )
        say(f"3. cart: {len(cart['items'])} lines, subtotal {cart['subtotal_cents']} c")

        token = f"tok_visa_demo{stamp}"
        started = time.perf_counter()
        order = _check(
            shop.post(
                f"/users/{user['id']}/checkout",
                json={"card_token": token, "discount_code": "SAVE10"},
            ),
            201,
        )
        took_ms = (time.perf_counter() - started) * 1000
        say(
            f"4. checkout: order #{order['id']} total {order['total_cents']} c "
            f"(discount {order['discount_cents']}, shipping {order['shipping_cents']}, "
            f"tax {order['tax_cents']}) in {took_ms:.0f} ms"
        )

    charges = _check(httpx.get(f"{payments_url}/v1/charges", params={"card_token": token}), 200)[
        "charges"
    ]
    say(f"5. charges at the payment provider for this card: {len(charges)}")
    for charge in charges:
        say(f"   {charge['id']} {charge['amount_cents']} {charge['currency']} {charge['status']}")

    messages = _check(httpx.get(f"{mail_url}/messages", params={"to": email}), 200)["messages"]
    say(f"6. e-mails in the mail sink for {email}: {len(messages)}")
    for message in messages:
        say(f"   subject: {message['subject']}")
    return {"user": user, "order": order, "charges": charges, "messages": messages}


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
