"""The Idempotency-Key store on a real database: claims, replays, refusals, lost claims."""

from __future__ import annotations

import time

import pytest

from migrations import history
from new_services.platform.idempotency import IdempotencyStore, StoredResponse
from new_services.platform.problems import IdempotencyKeyInUse, IdempotencyKeyReused
from tests.integration.migrating import engine_at

SCOPE = "POST /v2/things"


@pytest.fixture
def database(fresh_database_url: str) -> str:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    return fresh_database_url


def test_a_completed_key_replays_its_answer_and_refuses_another_body(database: str) -> None:
    with engine_at(database) as engine:
        store = IdempotencyStore(engine)
        assert store.claim(SCOPE, "k", "hash-a") is None  # ours to run
        answer = StoredResponse(201, {"content-type": "application/json"}, b'{"id": 1}')
        store.complete(SCOPE, "k", answer)
        assert store.claim(SCOPE, "k", "hash-a") == answer
        with pytest.raises(IdempotencyKeyReused):
            store.claim(SCOPE, "k", "hash-b")
        assert store.claim("POST /v2/others", "k", "hash-b") is None  # keys are per route


def test_a_key_in_flight_is_refused_until_its_lease_runs_out_then_taken_over(
    database: str,
) -> None:
    with engine_at(database) as engine:
        store = IdempotencyStore(engine, lease_s=0.3)
        assert store.claim(SCOPE, "k", "h") is None
        with pytest.raises(IdempotencyKeyInUse):
            store.claim(SCOPE, "k", "h")
        time.sleep(0.4)  # the first claimant died without answering
        assert store.claim(SCOPE, "k", "h") is None
        with pytest.raises(IdempotencyKeyInUse):  # and the new claim holds in turn
            store.claim(SCOPE, "k", "h")


def test_a_released_key_runs_again(database: str) -> None:
    with engine_at(database) as engine:
        store = IdempotencyStore(engine)
        assert store.claim(SCOPE, "k", "h") is None
        store.release(SCOPE, "k")  # a 5xx: the client is meant to retry
        assert store.claim(SCOPE, "k", "h") is None
