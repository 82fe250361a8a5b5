"""Errors the payment stand-in answers with, each with a stable ``type`` and HTTP status.

The stand-in's domain *is* its wire contract, so every error carries the status and
``type`` a client of the real provider would see; ``api.py`` only renders them.

    PaymentsError
    ├── InvalidRequest            400 invalid_request
    ├── InvalidCardToken          400 invalid_card_token
    ├── InvalidRefund             400 invalid_refund
    ├── CardDeclined              402 card_declined
    ├── NotFound                  404 not_found
    ├── IdempotencyKeyInFlight    409 idempotency_key_in_flight
    ├── RequestTooLarge           413 request_too_large
    ├── IdempotencyKeyReused      422 idempotency_key_reused
    ├── ProcessingError           500 processing_error
    ├── StorageError              500 storage_error
    └── ProviderUnavailable       503 provider_unavailable

    ConfigError (ValueError)      bad settings, raised before the app serves anything
"""

from __future__ import annotations

from typing import ClassVar


class PaymentsError(Exception):
    """Base class: an answer the provider gives instead of the resource asked for."""

    type: ClassVar[str] = "api_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_body(self) -> dict[str, object]:
        """Render as the provider's error envelope."""
        return {"error": {"type": self.type, "message": self.message, **self.details}}


class InvalidRequest(PaymentsError):
    type = "invalid_request"
    status = 400


class InvalidCardToken(PaymentsError):
    type = "invalid_card_token"
    status = 400


class InvalidRefund(PaymentsError):
    type = "invalid_refund"
    status = 400


class CardDeclined(PaymentsError):
    type = "card_declined"
    status = 402


class NotFound(PaymentsError):
    type = "not_found"
    status = 404


class RequestTooLarge(PaymentsError):
    type = "request_too_large"
    status = 413


class IdempotencyKeyInFlight(PaymentsError):
    type = "idempotency_key_in_flight"
    status = 409


class IdempotencyKeyReused(PaymentsError):
    type = "idempotency_key_reused"
    status = 422


class ProcessingError(PaymentsError):
    type = "processing_error"
    status = 500


class StorageError(PaymentsError):
    type = "storage_error"
    status = 500


class ProviderUnavailable(PaymentsError):
    type = "provider_unavailable"
    status = 503


class ConfigError(ValueError):
    """A setting from the environment or the admin endpoint is out of range."""
