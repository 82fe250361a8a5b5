"""Products' validation is the legacy app's, check for check; hold lines and hold states."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_app.app import validate_product_fields
from new_services.catalog.errors import HoldReleased
from new_services.catalog.model import (
    MAX_LINES,
    Hold,
    HoldState,
    Line,
    Product,
    parse_lines,
    product_problem,
)
from new_services.platform.problems import InvalidRequest

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2) | st.sampled_from([100_000_000, 100_000_001]),
    st.sampled_from([1_000_000, 1_000_001, 2**63]),
    st.floats(allow_nan=False) | st.just(10.0),
    st.text(max_size=3) | st.sampled_from(["", "  ", "x" * 200, "x" * 201, "A-b_9", "a\n"]),
    st.sampled_from(["S" * 64, "S" * 65, "dot.ted", "ü"]),
    st.lists(st.integers(), max_size=1),
)
BODIES = st.dictionaries(
    st.sampled_from(["sku", "name", "price_cents", "stock", "colour", "id"]), VALUES, max_size=5
)


@given(body=BODIES, partial=st.booleans())
def test_a_product_body_is_refused_exactly_when_and_as_the_legacy_app_refuses_it(
    body: dict[str, Any], partial: bool
) -> None:
    assert product_problem(body, partial) == validate_product_fields(body, partial)


def test_a_valid_product_body_passes() -> None:
    body = {"sku": "A-1", "name": "Teapot", "price_cents": 0, "stock": 1_000_000}
    assert product_problem(body, partial=False) is None
    assert product_problem({"stock": 0}, partial=True) is None


def test_hold_lines_are_one_per_product_and_come_back_in_product_order() -> None:
    body = {"lines": [{"product_id": 9, "quantity": 1}, {"product_id": 2, "quantity": 3}]}
    assert parse_lines(body) == (Line(2, 3), Line(9, 1))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"lines": []},
        {"lines": "x"},
        {"lines": [{"product_id": 1, "quantity": 1}], "more": 1},
        {"lines": [{"product_id": 1}]},
        {"lines": [{"product_id": 1, "quantity": 0}]},
        {"lines": [{"product_id": 1, "quantity": True}]},
        {"lines": [{"product_id": 0, "quantity": 1}]},
        {"lines": [{"product_id": 2**63, "quantity": 1}]},
        {"lines": [{"product_id": "1", "quantity": 1}]},
        {"lines": [{"product_id": 1, "quantity": 1}, {"product_id": 1, "quantity": 2}]},
        {"lines": [{"product_id": n + 1, "quantity": 1} for n in range(MAX_LINES + 1)]},
    ],
)
def test_hold_lines_that_make_no_sense_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        parse_lines(body)


def test_a_release_frees_only_a_held_hold_and_a_released_one_cannot_be_committed() -> None:
    held = Hold(uuid.uuid4(), HoldState.HELD, (Line(1, 2),))
    assert held.released().state is HoldState.RELEASED
    assert held.committed().state is HoldState.COMMITTED
    assert held.committed().released().state is HoldState.COMMITTED  # sold stays sold
    with pytest.raises(HoldReleased):
        held.released().committed()


def test_a_product_answers_v1_without_and_v2_with_its_uuid_and_times() -> None:
    moment = datetime(2026, 11, 28, 10, 15, 0)  # naive UTC, as the columns keep it
    product = Product(7, uuid.uuid4(), "A-1", "Teapot", 1_999, 3, moment, moment)
    assert product.v1_json() == {
        "id": 7,
        "sku": "A-1",
        "name": "Teapot",
        "price_cents": 1_999,
        "stock": 3,
    }
    assert product.v2_json()["id"] == str(product.uuid)
    assert product.v2_json()["legacy_id"] == 7
    assert product.v2_json()["created_at"] == "2026-11-28T10:15:00Z"
    assert Product.from_cache(product.to_cache()) == product
