"""What orders answers instead of what was asked, as problems (new_services/platform/problems.py).
v1 turns each into the legacy `{"error", "message"}` body with the same status.

    Problem
    ├── InvalidRequest           400 invalid-request (platform; v1: validation_error)
    ├── LineFull                 400 line-full (v1: validation_error)
    ├── PaymentDeclined          402 card-declined
    │   └── CardInvalid          402 card-invalid (v1: card_declined)
    ├── UserNotFound             404 user-not-found
    ├── ProductNotFound          404 product-not-found
    ├── ItemNotFound             404 item-not-found
    ├── OrderNotFound            404 order-not-found
    ├── OutOfStock               409 out-of-stock
    ├── CheckoutAbandoned        409 checkout-abandoned
    ├── CartEmpty                422 cart-empty
    ├── InvalidDiscountCode      422 invalid-discount-code
    ├── CheckoutKeyReused        422 idempotency-key-reused (passing: never replayed)
    ├── ProductUnavailable       422 product-unavailable
    ├── PaymentFailed            502 payment-failed
    ├── RefundFailed             502 refund-failed
    └── DependencyDown           503 dependency-unavailable (passing: never replayed)
"""

from __future__ import annotations

from new_services.platform.problems import Problem


class PaymentDeclined(Problem):
    status, slug, title = 402, "card-declined", "The card was declined"


class CardInvalid(PaymentDeclined):
    status, slug, title = 402, "card-invalid", "The card is not one the provider knows"
    v1_code = "card_declined"  # legacy has no such code; to its clients it is a decline


class CheckoutKeyReused(Problem):
    """The Idempotency-Key's checkout was paid for with other details (another card).

    Not kept for the key: its first try, if still pending, must be able to resume."""

    status, slug, title = 422, "idempotency-key-reused", "The key was used for another checkout"
    lasting = False


class UserNotFound(Problem):
    status, slug, title = 404, "user-not-found", "No such user"


class OutOfStock(Problem):
    status, slug, title = 409, "out-of-stock", "Not enough stock"


class CheckoutAbandoned(Problem):
    """A checkout whose payment payments gave up on: a retry with its key cannot finish."""

    status, slug, title = 409, "checkout-abandoned", "The checkout was given up on"


class CartEmpty(Problem):
    status, slug, title = 422, "cart-empty", "The cart is empty"


class InvalidDiscountCode(Problem):
    status, slug, title = 422, "invalid-discount-code", "Unknown discount code"


class ProductUnavailable(Problem):
    status, slug, title = 422, "product-unavailable", "A product in the cart is gone"


class PaymentFailed(Problem):
    status, slug, title = 502, "payment-failed", "The payment could not be made"


class ProductNotFound(Problem):
    status, slug, title = 404, "product-not-found", "No such product"


class ItemNotFound(Problem):
    status, slug, title = 404, "item-not-found", "The product is not in the cart"


class OrderNotFound(Problem):
    status, slug, title = 404, "order-not-found", "No such order"


class LineFull(Problem):
    status, slug, title = 400, "line-full", "A cart line holds at most 100 units"
    v1_code = "validation_error"


class RefundFailed(Problem):
    status, slug, title = 502, "refund-failed", "The refund could not be made"


class DependencyDown(Problem):
    status, slug, title = 503, "dependency-unavailable", "A service orders needs did not answer"
    lasting = False
