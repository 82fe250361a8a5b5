"""Signing up: v1 refuses what the legacy app refuses, in its order and words; v2 refuses
what its OpenAPI document forbids, and nothing more."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from legacy_app import app as legacy
from new_services.platform.problems import InvalidRequest
from new_services.users.model import (
    EMAIL_PROBLEM,
    LEGACY_EMAIL,
    NAME_PROBLEM,
    TOO_LONG,
    WHITESPACE,
    NewUser,
    email_filter,
)


def test_v2s_spelt_out_whitespace_is_exactly_what_legacys_checks_call_whitespace() -> None:
    """Python's `\\s` (legacy's e-mail check) and `str.strip` (its name check) both mean
    `str.isspace`; v2 spells the set out, as JSON Schema's `\\s` is another one."""
    spelt_out = re.compile(f"[{WHITESPACE}]")
    every = [chr(code) for code in range(sys.maxunicode + 1)]
    assert [c for c in every if spelt_out.match(c)] == [c for c in every if c.isspace()]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"email": "no-at-sign.example.com", "name": ""}, EMAIL_PROBLEM),  # email first
        ({"email": " ada@example.com", "name": "Ada"}, EMAIL_PROBLEM),
        ({"email": "ada@example.com", "name": " \t"}, NAME_PROBLEM),
        ({"email": "ada@example.com"}, NAME_PROBLEM),
        ({"email": "a" * 250 + "@b.com", "name": "Ada"}, EMAIL_PROBLEM),
        ({"email": True, "name": "Ada"}, EMAIL_PROBLEM),
    ],
)
def test_v1_refuses_what_legacy_refuses_with_its_first_message(
    body: dict[str, Any], problem: str
) -> None:
    assert LEGACY_EMAIL.pattern == legacy.EMAIL_RE.pattern  # legacy's own check
    with pytest.raises(InvalidRequest) as refused:
        NewUser.v1(body)
    assert refused.value.detail == problem


def test_v1_takes_what_legacy_takes_stored_trimmed_and_lower_cased() -> None:
    made = NewUser.v1({"email": "Ada.Lovelace@Example.COM\n", "name": " Ada ", "age": 36})
    assert made == NewUser("ada.lovelace@example.com", " Ada ")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"email": "ada@example.com\n", "name": "Ada"}, EMAIL_PROBLEM),  # `$` is the end
        ({"email": "ada@example.com", "name": "Ada", "age": 36}, "unknown field(s): age"),
        ({"email": "ada@example.com", "name": "\u3000"}, NAME_PROBLEM),
        ({"email": "ada\u0085x@example.com", "name": "Ada"}, EMAIL_PROBLEM),
    ],
)
def test_v2_refuses_what_its_document_forbids(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        NewUser.v2(body)
    assert refused.value.detail == problem


def test_an_address_that_lower_cases_past_the_column_is_refused_not_a_server_error() -> None:
    long = "İ" * 200 + "@example.com"  # 212 characters, 412 once lower-cased
    for version in (NewUser.v1, NewUser.v2):
        with pytest.raises(InvalidRequest) as refused:
            version({"email": long, "name": "Ada"})
        assert refused.value.detail == TOO_LONG


def test_a_list_filtered_by_address_finds_it_in_any_case() -> None:
    assert email_filter("Ada@Example.com") == "ada@example.com"
    with pytest.raises(InvalidRequest):
        email_filter("ada")
