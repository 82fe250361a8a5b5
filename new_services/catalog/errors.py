"""What the catalog answers instead of a product or a hold, as problems (platform/problems.py).

On v1 paths a problem takes the legacy shape, its slug with underscores
(`product-not-found` is `{"error": "product_not_found", ...}`, platform/v1.py).

Problem
├── InvalidRequest        400 invalid-request (platform; v1 answers validation_error itself)
├── ProductNotFound       404 product-not-found  (also deleted products)
├── HoldNotFound          404 hold-not-found
├── SkuTaken              409 sku-taken          (also by a deleted product: skus stay taken)
├── OutOfStock            409 out-of-stock       + product_id
├── HoldReleased          409 hold-released      (a commit came after the release or expiry)
├── HoldMismatch          422 hold-mismatch      (the hold exists, with other lines)
├── ProductUnavailable    422 product-unavailable + product_id (deleted or unknown: no hold)
└── StockBusy             503 stock-busy         (a product stayed locked by legacy; retry)
"""

from __future__ import annotations

from new_services.platform.problems import Problem


class ProductNotFound(Problem):
    status, slug, title = 404, "product-not-found", "No such product"


class HoldNotFound(Problem):
    status, slug, title = 404, "hold-not-found", "No such stock hold"


class SkuTaken(Problem):
    status, slug, title = 409, "sku-taken", "A product with this sku already exists"


class OutOfStock(Problem):
    """Not enough units of `product_id` to hold; nothing was held."""

    status, slug, title = 409, "out-of-stock", "Not enough stock"


class ProductUnavailable(Problem):
    """`product_id` is deleted or unknown, so it cannot be held (legacy's checkout answers
    `422 product_unavailable` for it, and orders passes this on as that); nothing was held."""

    status, slug, title = 422, "product-unavailable", "The product is no longer sold"


class HoldReleased(Problem):
    status, slug, title = 409, "hold-released", "The hold was released"


class HoldMismatch(Problem):
    status, slug, title = 422, "hold-mismatch", "The hold exists with other lines"


class StockBusy(Problem):
    """A product's row stayed locked by another writer (legacy's checkout) through every
    try: nothing was changed, and a retry a moment later goes through (inventory.py)."""

    status, slug, title = 503, "stock-busy", "The stock is busy; retry"
