"""Users and the rules for signing one up: pure data, no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from new_services.platform.problems import InvalidRequest
from new_services.platform.v1 import iso

MAX_EMAIL = 255  # the legacy column's length, for the address as stored (lower-cased)
MAX_NAME = 200
FIELDS = ("email", "name")
# Python's `\s` spelt out, so that v2's rules mean the same in Python and in the JSON Schema
# (ECMA-262) regexes of its OpenAPI document, whose `\s` is another set (it lacks
# U+001C-U+001F and U+0085, and has U+FEFF). tests/unit/users/test_model.py keeps it equal.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PART = rf"[^@{WHITESPACE}]+"
EMAIL = re.compile(rf"^{_PART}@{_PART}\.{_PART}$")  # v2: fullmatch, as JSON Schema reads `$`
NAME = re.compile(rf"[^{WHITESPACE}]")  # some character that is not whitespace
# The legacy app's own check, kept as it is for v1: `match` lets `$` match before a final
# newline, so `ada@example.com\n` is taken (and stored stripped), as legacy takes it.
LEGACY_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_PROBLEM = "email must be an e-mail address"
NAME_PROBLEM = f"name must be a non-empty string of at most {MAX_NAME} characters"
TOO_LONG = f"email must be at most {MAX_EMAIL} characters once lower-cased"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the column keeps no zone


def normalised_email(email: str) -> str:
    """An address as it is stored and compared: trimmed and lower-cased, as legacy does."""
    return email.strip().lower()


@dataclass(frozen=True)
class User:
    id: int  # the legacy id: v1 and the other domains name users by it
    uuid: uuid.UUID  # v2's id
    email: str
    name: str
    created_at: datetime  # naive UTC, as legacy writes it

    def v1_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "created_at": iso(self.created_at),
        }

    def v2_json(self) -> dict[str, Any]:
        return {
            "id": str(self.uuid),
            "legacy_id": self.id,
            "email": self.email,
            "name": self.name,
            "created_at": iso(_utc(self.created_at)),
        }


@dataclass(frozen=True)
class NewUser:
    email: str  # normalised
    name: str

    @classmethod
    def v1(cls, body: dict[str, Any]) -> NewUser:
        """From a v1 body, checked as the legacy app checks it, in its order and words (its
        other fields are ignored, as legacy ignores them). Raises InvalidRequest, which v1
        answers as `400 validation_error`."""
        email, name = body.get("email"), body.get("name")
        if not isinstance(email, str) or len(email) > MAX_EMAIL or not LEGACY_EMAIL.match(email):
            raise InvalidRequest(EMAIL_PROBLEM)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise InvalidRequest(NAME_PROBLEM)
        return cls._made(email, name)

    @classmethod
    def v2(cls, body: dict[str, Any]) -> NewUser:
        """From a v2 body: exactly `email` and `name`, each as the OpenAPI document says."""
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise InvalidRequest("unknown field(s): " + ", ".join(unknown))
        email, name = body.get("email"), body.get("name")
        if not isinstance(email, str) or len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
            raise InvalidRequest(EMAIL_PROBLEM)
        if not isinstance(name, str) or not NAME.search(name) or len(name) > MAX_NAME:
            raise InvalidRequest(NAME_PROBLEM)
        return cls._made(email, name)

    @classmethod
    def _made(cls, email: str, name: str) -> NewUser:
        stored = normalised_email(email)
        if len(stored) > MAX_EMAIL:
            # a few letters lower-case to two characters (`İ`): legacy fails (500) on
            # PostgreSQL, whose column cannot hold the result
            raise InvalidRequest(TOO_LONG)
        return cls(stored, name)


def email_filter(raw: str) -> str:
    """The `email` a v2 list is filtered by, as stored (any case finds the account)."""
    if len(raw) > MAX_EMAIL or not EMAIL.fullmatch(raw):
        raise InvalidRequest(EMAIL_PROBLEM)
    return normalised_email(raw)
