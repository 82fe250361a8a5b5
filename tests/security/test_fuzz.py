"""A bounded property-based fuzz of every service's v2 operations, from its OpenAPI document
(schemathesis): valid and invalid requests against the real apps, in this process, on a
real database and Redis (tests/security/services.py).

Every answer must be no server error, a documented status with the documented content type
and body schema; a schema-valid request must not be refused as invalid (400), and a request
the document forbids must be refused (4xx). Bounded: a few examples per operation and mode
(`FUZZ_EXAMPLES`, default 25), so the five services take well under two minutes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi import checks
from starlette.applications import Starlette

from new_services.platform.idempotency import MAX_KEY_CHARS
from tests.security.services import SERVICES, Where, service

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": 16,  # the same cases on every run: a failure in CI is one you can re-run
        "generation": {"mode": "all", "max-examples": EXAMPLES, "database": "none"},
        "checks": {
            # A schema-valid request may still be refused by the state it meets, with a
            # documented answer: the user or product is unknown (404), the Idempotency-Key
            # was used with another body (422) or is in flight (409), the card is declined
            # (402), the stock is short (409), the cart is empty (422). A 400 is never
            # among these: it says the request itself is invalid, so a schema-valid request
            # refused with one means the document is too loose (see `BEYOND_THE_SCHEMA`).
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "304", "402", "404", "409", "422"]
            },
        },
    }
)
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.unsupported_method,
]
# Schema-valid requests that still break a rule no JSON Schema states, answered 400 with
# this detail: the fuzz cannot make them valid, so they are not counted as a document too
# loose. Each is a rule of the API, written in the operation's description.
BEYOND_THE_SCHEMA = {
    # a cursor is opaque: only the `next` of an answer is one (JSON Schema cannot say so)
    "cursor is not one this service gave out": "opaque cursors",
    "this cursor continues sort=": "opaque cursors",
    # the report's range: two dates in order, and not too many days between them
    "from must not be after to": "a range in order",
    "a report covers at most": "a bounded range",
    # one line per product (uniqueItems cannot compare a field of the items)
    "each product may appear in one line only": "one line per product",
    # no NUL in any text of a body (PostgreSQL's text cannot hold one): one rule for every
    # string of every document, said in each document's description rather than as a
    # pattern on each string
    "text must not contain NUL": "no NUL in text",
    # a card token names a card at the provider: a made-up one names none
    "unknown card token": "cards the provider knows",
    # an address kept lower-cased must still fit its column (a few letters become two)
    "characters once lower-cased": "an address that fits once lower-cased",
}


def _load(name: str) -> Any:
    module = __import__(f"new_services.{name}.openapi", fromlist=["OPENAPI"])
    # v1 is the legacy contract, pinned byte for byte by tests/contract, not fuzzed here
    return schemathesis.openapi.from_dict(module.OPENAPI, config=CONFIG).include(path_regex="^/v2/")


DOCUMENTS = {name: _load(name) for name in SERVICES}


@pytest.fixture(scope="module")
def apps(where: Where) -> Iterator[dict[str, Starlette]]:
    """The five services, started by schemathesis' ASGI client at their first request
    (it runs their lifespans on a loop of its own) and stopped here."""
    yield {name: service(name, where) for name in SERVICES}
    asgi.shutdown_lifespans()


def _fuzz(case: Any, app: Starlette) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= MAX_KEY_CHARS:
        # A new request gets a new key, as clients do. Left as generated, a few keys ("0")
        # come back with other bodies, and each case would answer by the ones before it
        # (422, or a replay); a key reused with another body is tested on its own
        # (tests/integration/test_idempotency_store.py, the services' tests).
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    response = case.call(app=app)
    excluded = []
    if response.status_code == 400 and any(rule in response.text for rule in BEYOND_THE_SCHEMA):
        excluded.append(checks.positive_data_acceptance)
    case.validate_response(response, checks=CHECKS, excluded_checks=excluded)


@DOCUMENTS["orders"].parametrize()
def test_fuzzing_the_orders_document_finds_no_error_and_no_undocumented_answer(
    case: Any, apps: dict[str, Starlette]
) -> None:
    _fuzz(case, apps["orders"])


@DOCUMENTS["catalog"].parametrize()
def test_fuzzing_the_catalog_document_finds_no_error_and_no_undocumented_answer(
    case: Any, apps: dict[str, Starlette]
) -> None:
    _fuzz(case, apps["catalog"])


@DOCUMENTS["payments"].parametrize()
def test_fuzzing_the_payments_document_finds_no_error_and_no_undocumented_answer(
    case: Any, apps: dict[str, Starlette]
) -> None:
    _fuzz(case, apps["payments"])


@DOCUMENTS["analytics"].parametrize()
def test_fuzzing_the_analytics_document_finds_no_error_and_no_undocumented_answer(
    case: Any, apps: dict[str, Starlette]
) -> None:
    _fuzz(case, apps["analytics"])


@DOCUMENTS["users"].parametrize()
def test_fuzzing_the_users_document_finds_no_error_and_no_undocumented_answer(
    case: Any, apps: dict[str, Starlette]
) -> None:
    _fuzz(case, apps["users"])
