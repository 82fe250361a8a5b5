"""The orders book as other parts read it: a client of the orders service's feed.

The only module of this package another part may import. `GET /v2/order-feed` is internal
(the gateway has no route to it): every order, cancelled ones included, by legacy id, for
a read model rebuilt from the whole book (`strangler analytics rebuild`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

PAGE = 100  # the v2 API's largest page


class OrdersUnavailable(Exception):
    """The orders service did not answer a page, or answered it with an error."""


def order_feed(http: httpx.Client) -> Iterator[dict[str, Any]]:
    """Every order, in the orders service's v2 shape, page after page, to the last one
    there is when the last page is read (orders placed meanwhile have higher ids)."""
    params: dict[str, str | int] = {"limit": PAGE}
    while True:
        try:
            response = http.get("/v2/order-feed", params=params)
        except httpx.HTTPError as exc:
            raise OrdersUnavailable(f"the orders service did not answer: {exc}") from exc
        if response.status_code != 200:
            raise OrdersUnavailable(
                f"the orders service answered {response.status_code}: {response.text[:200]}"
            )
        page = response.json()
        yield from page["orders"]
        if page["next"] is None:
            return
        params = {"limit": PAGE, "cursor": page["next"]}
