"""What checkout answers instead of an order, as problems (new_services/platform/problems.py).
v1 turns each into the legacy `{"error", "message"}` body with the same status.

    Problem
    ├── InvalidRequest           400 invalid-request (platform)
    ├── PaymentDeclined          402 card-declined
    ├── UserNotFound             404 user-not-found
    ├── OutOfStock               409 out-of-stock
    ├── CartEmpty                422 cart-empty
    ├── InvalidDiscountCode      422 invalid-discount-code
    ├── ProductUnavailable       422 product-unavailable
    └── PaymentFailed            502 payment-failed
"""

from __future__ import annotations

from new_services.platform.problems import Problem


class PaymentDeclined(Problem):
    status, slug, title = 402, "card-declined", "The card was declined"


class UserNotFound(Problem):
    status, slug, title = 404, "user-not-found", "No such user"


class OutOfStock(Problem):
    status, slug, title = 409, "out-of-stock", "Not enough stock"


class CartEmpty(Problem):
    status, slug, title = 422, "cart-empty", "The cart is empty"


class InvalidDiscountCode(Problem):
    status, slug, title = 422, "invalid-discount-code", "Unknown discount code"


class ProductUnavailable(Problem):
    status, slug, title = 422, "product-unavailable", "A product in the cart is gone"


class PaymentFailed(Problem):
    status, slug, title = 502, "payment-failed", "The payment could not be made"
