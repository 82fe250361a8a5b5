"""Shadow comparison: what counts as the same answer, and how a difference reads."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.compare import (
    MAX_DIFFERENCES,
    CompareRules,
    Comparison,
    Difference,
    Response,
    compare,
    noise_paths,
    parse_rules,
    render,
)

JSON = "application/json"


def answer(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None, indent: int = 0
) -> Response:
    """A response; `body` is JSON-encoded unless it is already bytes."""
    raw = body if isinstance(body, bytes) else json.dumps(body, indent=indent or None).encode()
    return Response(status, {"Content-Type": JSON} if headers is None else headers, raw)


def diff(expected: object, actual: object, **rules: object) -> Comparison:
    return compare(answer(expected), answer(actual), parse_rules(rules))


def paths(comparison: Comparison) -> list[tuple[str, str]]:
    return [(d.path, d.kind) for d in comparison.differences]


# Structure


def test_identical_json_matches_even_when_formatted_differently() -> None:
    order = {"id": 7, "items": [{"sku": "A-1", "qty": 2}], "paid": True, "note": None}
    result = compare(answer(order), answer(order, indent=2), CompareRules())
    assert result.match and result.differences == ()


def test_the_order_of_object_keys_does_not_matter() -> None:
    assert diff({"a": 1, "b": {"x": 1, "y": 2}}, {"b": {"y": 2, "x": 1}, "a": 1}).match


def test_a_changed_value_is_reported_at_its_path_with_both_values() -> None:
    result = diff(
        {"items": [{"price_cents": 100}, {"price_cents": 250}]},
        {"items": [{"price_cents": 100}, {"price_cents": 260}]},
    )
    assert result.differences == (Difference("$.items[1].price_cents", "value", 250, 260),)


def test_a_missing_and_an_unexpected_key_are_told_apart() -> None:
    result = diff({"total": 5, "currency": "EUR"}, {"total": 5, "coupon": None})
    assert paths(result) == [("$.coupon", "unexpected"), ("$.currency", "missing")]


def test_a_longer_list_reports_its_length_and_compares_the_common_elements() -> None:
    result = diff({"ids": [1, 2, 3]}, {"ids": [1, 5]})
    assert result.differences == (
        Difference("$.ids", "length", 3, 2),
        Difference("$.ids[1]", "value", 2, 5),
    )


def test_a_number_and_the_same_number_as_a_string_are_a_type_difference() -> None:
    assert paths(diff({"id": 1}, {"id": "1"})) == [("$.id", "type")]


def test_an_integer_and_an_equal_float_are_the_same_number() -> None:
    assert diff({"total": 12}, {"total": 12.0}).match


def test_a_boolean_is_never_a_number_even_within_tolerance() -> None:
    result = diff({"active": True, "count": 1}, {"active": 1, "count": True}, numeric_tolerance=1)
    assert paths(result) == [("$.active", "type"), ("$.count", "type")]


def test_null_and_a_missing_key_are_different() -> None:
    assert diff({"coupon": None}, {}).differences == (
        Difference("$.coupon", "missing", None, None),
    )


def test_differences_are_listed_in_document_order_with_indices_counted_numerically() -> None:
    expected = {"b": list(range(12)), "a": 1}
    actual = {"b": [*range(2), -2, *range(3, 10), -10, 11], "a": 2}
    assert [d.path for d in diff(expected, actual).differences] == ["$.a", "$.b[2]", "$.b[10]"]


# Ignore rules


def test_an_ignored_top_level_field_may_differ_or_be_absent() -> None:
    rules = {"ignore": ["$.created_at"]}
    assert diff({"id": 1, "created_at": "09:00"}, {"id": 1, "created_at": "09:01"}, **rules).match
    assert diff({"id": 1, "created_at": "09:00"}, {"id": 1}, **rules).match
    assert not diff({"id": 1, "created_at": "09:00"}, {"id": 2}, **rules).match


def test_a_field_ignored_in_every_element_may_differ_while_the_rest_is_compared() -> None:
    expected = {"items": [{"id": "a1", "qty": 1}, {"id": "b2", "qty": 2}]}
    actual = {"items": [{"id": "x9", "qty": 1}, {"id": "y8", "qty": 3}]}
    result = diff(expected, actual, ignore=["$.items[*].id"])
    assert result.differences == (Difference("$.items[1].qty", "value", 2, 3),)


def test_recursive_descent_ignores_a_key_at_any_depth() -> None:
    expected = {"updated_at": 1, "user": {"updated_at": 2, "orders": [{"updated_at": 3, "n": 1}]}}
    actual = {"updated_at": 9, "user": {"updated_at": 8, "orders": [{"updated_at": 7, "n": 1}]}}
    assert diff(expected, actual, ignore=["$..updated_at"]).match


def test_an_index_in_an_ignore_rule_ignores_only_that_element() -> None:
    expected = {"orders": [{"charge_id": "ch_1"}, {"charge_id": "ch_2"}]}
    actual = {"orders": [{"charge_id": "ch_X"}, {"charge_id": "ch_Y"}]}
    result = diff(expected, actual, ignore=["$.orders[0].charge_id"])
    assert paths(result) == [("$.orders[1].charge_id", "value")]
    both = diff(expected, actual, ignore=["$.orders[0].note", "$.orders[*].charge_id"])
    assert both.match  # a wildcard still applies where another rule names the index


def test_a_key_with_dots_is_named_in_brackets_both_in_rules_and_in_differences() -> None:
    expected = {"meta": {"build.sha": "abc", "x-trace": 1, "it's": 1}}
    actual = {"meta": {"build.sha": "def", "x-trace": 2, "it's": 2}}
    result = diff(expected, actual, ignore=["$.meta['build.sha']"])
    assert [d.path for d in result.differences] == ["$.meta['it\\'s']", "$.meta.x-trace"]
    assert diff(expected, actual, ignore=[d.path for d in result.differences] + ["$..*"]).match


@given(st.text(), st.integers(), st.integers())
def test_any_path_a_difference_prints_can_be_pasted_into_ignore(key: str, a: int, b: int) -> None:
    result = diff({"k": {key: a}}, {"k": {key: b}})
    printed = [d.path for d in result.differences]
    assert diff({"k": {key: a}}, {"k": {key: b}}, ignore=printed).match


def test_ignoring_the_root_ignores_the_whole_body_but_not_the_status() -> None:
    result = compare(answer([1]), answer({"a": 2}, status=201), CompareRules(ignore=("$",)))
    assert paths(result) == [("status", "status")]


# Numbers


@pytest.mark.parametrize(
    ("expected", "actual", "tolerance", "same"),
    [
        (100, 100.05, 0.05, True),  # exactly at the boundary, despite binary rounding
        (100.05, 100, 0.05, True),
        (100, 100.06, 0.05, False),  # just past it
        (100, 99.94, 0.05, False),
        (1, 2, 1, True),
        (1, 3, 1, False),
        (0.1 + 0.2, 0.3, 0, False),  # no tolerance means exact
        (10**30, 10**30 + 1, 0, False),  # big integers are compared exactly
    ],
)
def test_numbers_within_the_tolerance_are_equal_and_beyond_it_are_not(
    expected: float, actual: float, tolerance: float, same: bool
) -> None:
    assert diff({"n": expected}, {"n": actual}, numeric_tolerance=tolerance).match is same


# Unordered lists


def test_an_unordered_list_matches_in_any_order() -> None:
    rules = {"unordered": ["$.products"]}
    assert diff({"products": ["a", "b", "c"]}, {"products": ["c", "a", "b"]}, **rules).match
    assert not diff({"products": ["a", "b", "c"]}, {"products": ["c", "a", "b"]}).match


def test_an_unordered_list_still_catches_a_changed_element() -> None:
    result = diff({"products": [1, 2, 3]}, {"products": [3, 9, 1]}, unordered=["$.products"])
    assert result.differences == (
        Difference("$.products[*]", "missing", 2, None),
        Difference("$.products[*]", "unexpected", None, 9),
    )


def test_an_unordered_list_counts_repeated_elements() -> None:
    rules = {"unordered": ["$.products"]}
    assert paths(diff({"products": [1, 1, 2]}, {"products": [1, 2, 2]}, **rules)) == [
        ("$.products[*]", "missing"),
        ("$.products[*]", "unexpected"),
    ]
    grown = diff({"products": [1, 2]}, {"products": [2, 1, 2]}, **rules)
    assert grown.differences == (Difference("$.products[*]", "unexpected", None, 2),)


def test_unordered_elements_that_differ_only_in_ignored_fields_match() -> None:
    expected = {"products": [{"id": 1, "sku": "A"}, {"id": 2, "sku": "B"}]}
    actual = {"products": [{"id": 8, "sku": "B"}, {"id": 9, "sku": "A"}]}
    assert diff(expected, actual, unordered=["$.products"], ignore=["$.products[*].id"]).match
    assert diff(expected, actual, unordered=["$.products"], ignore=["$..id"]).match
    without_ids = {"products": [{"sku": "B"}, {"sku": "A"}]}
    assert diff(expected, without_ids, unordered=["$.products"], ignore=["$..id"]).match


def test_nested_unordered_lists_are_named_with_a_wildcard() -> None:
    expected = {"orders": [{"items": ["x", "y"]}, {"items": ["z", "w"]}]}
    actual = {"orders": [{"items": ["y", "x"]}, {"items": ["w", "z"]}]}
    assert diff(expected, actual, unordered=["$.orders[*].items"]).match
    assert not diff(expected, actual, unordered=["$.orders[0].items"]).match
    both = ["$.orders", "$.orders[*].items"]
    assert not diff(
        {"orders": [{"items": [1, 1, 2]}]}, {"orders": [{"items": [2, 1, 2]}]}, unordered=both
    ).match


def test_unordered_numbers_pair_up_within_tolerance_where_greedy_pairing_fails() -> None:
    # 1.1 is close to both 1.05 and 1.15, 1.0 only to 1.05: the first pairing that comes to
    # mind (1.1 with 1.05) strands 1.0.
    rules = {"unordered": ["$"], "numeric_tolerance": 0.05}
    assert diff([1.1, 1.0], [1.05, 1.15], **rules).match
    assert not diff([1.1, 1.0], [1.05, 1.25], **rules).match


# Status, headers, bodies that are not JSON


def test_a_different_status_is_reported() -> None:
    result = compare(answer({}), answer({}, status=500), CompareRules())
    assert result.differences == (Difference("status", "status", 200, 500),)


def test_chosen_headers_must_match_by_case_insensitive_name_and_exact_value() -> None:
    primary = answer({}, headers={"Content-Type": JSON, "X-Version": "1", "Date": "Mon"})
    candidate = answer({}, headers={"content-type": JSON + "; charset=utf-8", "date": "Tue"})
    result = compare(primary, candidate, CompareRules(headers=("Content-Type", "x-version")))
    assert result.differences == (
        Difference("header:content-type", "header", JSON, JSON + "; charset=utf-8"),
        Difference("header:x-version", "header", "1", None),
    )


def test_bodies_that_are_not_json_are_compared_as_bytes() -> None:
    html = b"<html><body>Order 7 shipped</body></html>"
    assert compare(answer(html), answer(html), CompareRules()).match
    result = compare(answer(html), answer(html.replace(b"7", b"8")), CompareRules())
    assert result.differences == (
        Difference(
            "body",
            "body",
            "<html><body>Order 7 shipped</body></html>",
            "<html><body>Order 8 shipped</body></html>",
        ),
    )


def test_a_long_body_is_previewed_around_its_first_difference() -> None:
    expected = b"x" * 5000 + b"<error>" + b"y" * 5000
    result = compare(answer(expected), answer(b"x" * 5000 + b"<fine!>"), CompareRules())
    (difference,) = result.differences
    assert "<error>" in str(difference.expected) and "<fine!>" in str(difference.actual)
    assert len(str(difference.expected)) < 100


def test_json_on_one_side_only_is_a_body_difference() -> None:
    result = compare(answer({"ok": True}), answer(b"OK"), CompareRules())
    assert result.differences == (Difference("body", "body", '{"ok": true}', "OK"),)


@pytest.mark.parametrize("depth", [600, 5000])
def test_a_body_nested_too_deep_to_walk_is_compared_as_bytes(depth: int) -> None:
    deep = b"[" * depth + b"]" * depth
    assert compare(answer(deep), answer(deep), CompareRules()).match
    changed = compare(answer(deep), answer(deep.replace(b"[]", b"[1]")), CompareRules())
    assert paths(changed) == [("body", "body")]
    shallow_change = compare(
        answer(b'{"a": 1, "deep": ' + deep + b"}"),
        answer(b'{"a": 2, "deep": ' + deep + b"}"),
        CompareRules(),
    )
    assert paths(shallow_change) == [("body", "body")]


def test_comparison_stops_after_a_thousand_differences_and_says_so() -> None:
    result = diff(list(range(5000)), list(range(1, 5001)))
    assert len(result.differences) == MAX_DIFFERENCES and result.truncated
    assert render(result, limit=1).splitlines() == [
        "$[0]: 0 != 1",
        "... and 999 more differences",
        "(stopped looking after 1000 differences)",
    ]
    assert not diff(list(range(1000)), list(range(1, 1001))).truncated


# Rules from settings


def test_rules_are_read_from_a_route_s_settings() -> None:
    settings = {
        "ignore": ["$.created_at", "$..updated_at"],
        "headers": ["content-type", "x-api-version"],
        "numeric_tolerance": 1,
        "unordered": ("$.products",),
    }
    assert parse_rules(settings) == CompareRules(
        ignore=("$.created_at", "$..updated_at"),
        headers=("content-type", "x-api-version"),
        numeric_tolerance=1,
        unordered=("$.products",),
    )
    assert parse_rules({}) == CompareRules()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ignore": ["created_at"]}, "'created_at': it must start with '$'"),
        ({"ignore": ["$.items[-1]"]}, "'$.items[-1]' at position 8: negative indices"),
        ({"ignore": ["$.items["]}, "'$.items[' at position 8"),
        ({"ignore": ["$.a['b]"]}, "unterminated quoted key"),
        ({"unordered": ["$.a b"]}, "'$.a b' at position 3"),
        ({"ignore": ["$..."]}, "'$...' at position 3: expected a key name"),
        ({"ignore": "$.created_at"}, "ignore must be a list of strings, got '$.created_at'"),
        ({"unordered": [3]}, "unordered must be a list of strings, got [3]"),
        ({"headers": ["content type"]}, "invalid header name 'content type'"),
        ({"numeric_tolerance": "0.5"}, "numeric_tolerance must be a number, got '0.5'"),
        ({"numeric_tolerance": True}, "numeric_tolerance must be a number, got True"),
        ({"numeric_tolerance": -1}, "not negative, got -1"),
        ({"numeric_tolerance": float("nan")}, "got nan"),
        ({"ignored": ["$.a"]}, "unknown setting 'ignored'"),
    ],
)
def test_invalid_rules_are_rejected_with_a_message_naming_the_bad_value(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rules(settings)


# Reading the result


def test_render_shows_one_readable_line_per_difference() -> None:
    primary = answer(
        {"total_cents": 1200, "x": 3, "id": 1, "tags": ["a", "b"], "note": "hi"},
        headers={"content-type": JSON, "x-version": "1"},
    )
    candidate = answer(
        {"total_cents": 1250, "id": "1", "tags": ["a"], "note": "hi", "debug": {"sql": 4}},
        status=201,
        headers={"content-type": "text/plain"},
    )
    rules = CompareRules(headers=("content-type", "x-version"))
    assert render(compare(primary, candidate, rules)).splitlines() == [
        "status: 200 != 201",
        'header:content-type: "application/json" != "text/plain"',
        'header:x-version: "1" != (absent)',
        'unexpected $.debug (got {"sql": 4})',
        '$.id: 1 (number) != "1" (string)',
        "$.tags: length 2 != 1",
        "$.total_cents: 1200 != 1250",
        "missing $.x (expected 3)",
    ]


def test_render_shows_unmatched_list_elements_and_bodies_that_are_not_json() -> None:
    assert render(diff([1, 3], [3, 2], unordered=["$"])).splitlines() == [
        "missing $[*] (expected 1)",
        "unexpected $[*] (got 2)",
    ]
    html = compare(answer(b"<p>7</p>"), answer(b"<p>8</p>\n"), CompareRules())
    assert render(html) == 'body: "<p>7</p>" != "<p>8</p>\\n"'


def test_render_says_when_responses_match_and_shortens_long_values() -> None:
    assert render(diff({"a": 1}, {"a": 1})) == "responses match"
    line = render(diff({"a": "x" * 500}, {"a": "y"}))
    assert line.startswith('$.a: "xxx') and line.endswith('... != "y"') and len(line) < 120


def test_noise_paths_counts_in_how_many_samples_each_path_differed() -> None:
    def legacy_twice(first: int, second: int) -> Comparison:
        return diff(
            {"request_id": first, "items": [{"etag": first}, {"etag": first}], "total": 5},
            {"request_id": second, "items": [{"etag": second}, {"etag": second}], "total": 5},
        )

    samples = [legacy_twice(1, 2), legacy_twice(3, 4), legacy_twice(5, 5)]
    assert noise_paths(samples) == Counter({"$.items[*].etag": 2, "$.request_id": 2})


# Properties

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: Python's json writes and reads them
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


def shuffled(value: object, rng: random.Random, lists: bool = False) -> object:
    """A deep copy with every object's keys (and, optionally, every list) in a new order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled(value[key], rng, lists) for key in keys}
    if isinstance(value, list):
        items = [shuffled(item, rng, lists) for item in value]
        if lists:
            rng.shuffle(items)
        return items
    return value


@given(json_values)
def test_any_json_value_matches_itself(value: object) -> None:
    assert compare(answer(value), answer(value, indent=1), CompareRules()).match


@given(json_values, st.randoms(use_true_random=False))
def test_any_json_value_matches_a_copy_with_its_keys_shuffled(
    value: object, rng: random.Random
) -> None:
    assert diff(value, shuffled(value, rng)).match


@given(json_values, st.randoms(use_true_random=False))
def test_any_json_value_matches_a_copy_with_every_list_shuffled_when_all_lists_are_unordered(
    value: object, rng: random.Random
) -> None:
    assert diff(value, shuffled(value, rng, lists=True), unordered=["$", "$..*"]).match


small_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from([0.5, 1.0, 1.25])
    | st.sampled_from(["", "x"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=15,
)
some_rules = st.sampled_from(
    [
        CompareRules(),
        CompareRules(numeric_tolerance=0.5),
        CompareRules(unordered=("$", "$..*")),
        CompareRules(unordered=("$..a",), ignore=("$..b", "$[0]"), numeric_tolerance=0.25),
    ]
)
MIRROR = {"missing": "unexpected", "unexpected": "missing"}


@given(small_values, small_values, some_rules)
def test_comparing_a_with_b_finds_as_many_differences_as_b_with_a(
    a: object, b: object, rules: CompareRules
) -> None:
    forward = compare(answer(a), answer(b), rules).differences
    backward = compare(answer(b), answer(a), rules).differences
    assert len(forward) == len(backward)
    assert Counter((d.path, MIRROR.get(d.kind, d.kind)) for d in forward) == Counter(
        (d.path, d.kind) for d in backward
    )
