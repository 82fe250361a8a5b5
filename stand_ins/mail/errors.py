"""Errors of the mail sink, each with a stable ``type`` and HTTP status.

MailError
├── InvalidRequest    400 invalid_request
├── NotFound          404 not_found
├── RequestTooLarge   413 request_too_large
└── StorageError      500 storage_error

ConfigError (ValueError)       bad settings, raised before the app serves anything
ListenerError (RuntimeError)   the SMTP port could not be opened
"""

from __future__ import annotations

from typing import ClassVar


class MailError(Exception):
    type: ClassVar[str] = "api_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_body(self) -> dict[str, object]:
        return {"error": {"type": self.type, "message": self.message}}


class InvalidRequest(MailError):
    type = "invalid_request"
    status = 400


class NotFound(MailError):
    type = "not_found"
    status = 404


class RequestTooLarge(MailError):
    type = "request_too_large"
    status = 413


class StorageError(MailError):
    type = "storage_error"
    status = 500


class ConfigError(ValueError):
    """A setting from the environment or the admin endpoint is out of range."""


class ListenerError(RuntimeError):
    """The SMTP listener could not start."""
