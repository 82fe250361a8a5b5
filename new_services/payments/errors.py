"""What payments answers instead of a payment, as problems (new_services/platform/problems.py).

Problem
├── InvalidRequest           400 invalid-request (platform)
├── CardDeclined             402 card-declined
│   └── CardInvalid          402 card-invalid (the provider knows no such card)
├── PaymentNotFound          404 payment-not-found
├── ChargeNotAdoptable       409 charge-not-adoptable
├── OrderAlreadyPaid         409 order-already-paid
├── PaymentVoided            409 payment-voided
├── RefundTooLarge           409 refund-too-large
├── ProviderUnavailable      502 provider-unavailable
│   └── ProviderRefused      503 provider-refused (it said it did nothing: nothing was kept)
└── ProviderBusy             503 provider-busy
"""

from __future__ import annotations

from new_services.platform.problems import Problem


class CardDeclined(Problem):
    status, slug, title = 402, "card-declined", "The card was declined"


class CardInvalid(CardDeclined):
    """The provider knows no such card: as final as a decline, and kept under the key the
    same way (a 400 would free the key while the provider still holds its own for this
    card, and every retry with another card would meet that and answer 502)."""

    status, slug, title = 402, "card-invalid", "The card is not one the provider knows"


class PaymentNotFound(Problem):
    status, slug, title = 404, "payment-not-found", "No such payment"


class ChargeNotAdoptable(Problem):
    """The provider has no such charge, or it took nothing: there is nothing to refund."""

    status, slug, title = 409, "charge-not-adoptable", "The charge cannot be taken over"


class OrderAlreadyPaid(Problem):
    status, slug, title = 409, "order-already-paid", "The order is already paid"


class OrderBeingPaid(Problem):
    status, slug, title = 409, "order-being-paid", "Another payment for the order is under way"
    lasting = False


class PaymentVoided(Problem):
    """Left pending until the settler gave it up: never charged, or the charge given back."""

    status, slug, title = 409, "payment-voided", "The payment was given up on"


class PaymentPending(Problem):
    status, slug, title = 409, "payment-pending", "The payment is not settled yet"
    lasting = False


class KeyUsedForOtherPayment(Problem):
    status, slug, title = 422, "idempotency-key-reused", "The key belongs to another payment"
    lasting = False  # the key stays the first payment's, and its retry must still get in


class RefundTooLarge(Problem):
    status, slug, title = 409, "refund-too-large", "More than is left to refund"


class ProviderUnavailable(Problem):
    status, slug, title = 502, "provider-unavailable", "The payment provider did not answer"


class ProviderRefused(ProviderUnavailable):
    """The provider answered 503: it is not taking requests and did nothing with this one
    (RFC 9110: the server is unable to handle the request). Unlike a lost answer, this is
    known: a refund it refused is not kept pending, and a retry starts afresh."""

    status, slug, title = 503, "provider-refused", "The payment provider did nothing; retry"


class ProviderBusy(Problem):
    """The provider is still working on this key: not stored, so the retry asks again."""

    status, slug, title = 503, "provider-busy", "The payment provider is still working on it"
