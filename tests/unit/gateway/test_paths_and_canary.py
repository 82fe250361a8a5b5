"""Path safety and sticky canary bucketing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.canary import BUCKETS, bucket, threshold, to_extracted
from gateway.paths import AmbiguousPathError, normalise


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (b"/", "/"),
        (b"/users/42/orders", "/users/42/orders"),
        (b"/products/%41BC", "/products/ABC"),
        (b"/caf%C3%A9", "/caf\u00e9"),
        (b"/files/a.b..c", "/files/a.b..c"),
    ],
)
def test_an_unambiguous_path_is_matched_in_its_decoded_form(raw: bytes, decoded: str) -> None:
    assert normalise(raw) == decoded


@pytest.mark.parametrize(
    "raw",
    [
        b"/admin/../users",
        b"/users/./1",
        b"/users/%2e%2e/admin",
        b"/users/%2E/1",
        b"/users/..",
        b"/users%2fadmin",
        b"/users%2Fadmin",
        b"/users%5cadmin",
        b"/users\\admin",
        b"//users",
        b"/users//1",
        b"/users/%252e%252e/admin",
        b"/users/%00",
        b"/users/%zz",
        b"/users/%4",
        b"users",
        b"/caf%C3",
        b"/a b",
    ],
)
def test_a_path_that_could_be_read_two_ways_is_refused(raw: bytes) -> None:
    with pytest.raises(AmbiguousPathError):
        normalise(raw)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_an_accepted_path_never_holds_a_dot_segment_or_an_empty_segment(text: str) -> None:
    raw = ("/" + text).encode()
    try:
        decoded = normalise(raw)
    except AmbiguousPathError:
        return
    segments = decoded.split("/")[1:]
    assert ".." not in segments and "." not in segments
    assert "" not in segments[:-1]


def test_a_key_always_lands_in_the_same_bucket_and_salts_shuffle_buckets() -> None:
    assert bucket("orders", "user-17") == bucket("orders", "user-17")
    assert 0 <= bucket("orders", "user-17") < BUCKETS
    keys = [f"user-{n}" for n in range(200)]
    assert [bucket("a", k) for k in keys] != [bucket("b", k) for k in keys]


@settings(max_examples=200)
@given(
    key=st.text(max_size=30),
    low=st.floats(min_value=0, max_value=100),
    high=st.floats(min_value=0, max_value=100),
)
def test_raising_the_weight_never_moves_a_key_back_to_legacy(
    key: str, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    if to_extracted("salt", key, low):
        assert to_extracted("salt", key, high)


def test_a_25_percent_canary_gets_25_percent_of_100000_keys_within_one_point() -> None:
    share = sum(to_extracted("orders", f"user-{n}", 25) for n in range(100_000)) / 100_000
    assert abs(share - 0.25) <= 0.01


def test_weights_0_and_100_send_nobody_and_everybody() -> None:
    assert not any(to_extracted("s", f"k{n}", 0) for n in range(1000))
    assert all(to_extracted("s", f"k{n}", 100) for n in range(1000))


def test_a_weight_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        threshold(100.5)
