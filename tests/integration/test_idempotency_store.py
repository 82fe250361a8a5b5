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
        claim = store.claim(SCOPE, "k", "hash-a")
        assert isinstance(claim, str)  # ours to run
        answer = StoredResponse(201, {"content-type": "application/json"}, b'{"id": 1}')
        assert store.complete(SCOPE, "k", claim, answer)
        assert store.claim(SCOPE, "k", "hash-a") == answer
        with pytest.raises(IdempotencyKeyReused):
            store.claim(SCOPE, "k", "hash-b")
        assert isinstance(store.claim("POST /v2/others", "k", "hash-b"), str)  # per route


def test_a_key_in_flight_is_refused_until_its_lease_runs_out_then_taken_over(
    database: str,
) -> None:
    with engine_at(database) as engine:
        # a lease long enough that a stalled CI machine (both suites on two cores) does not
        # let it run out between two statements of the test
        store = IdempotencyStore(engine, lease_s=2.0)
        first = store.claim(SCOPE, "k", "h")
        assert isinstance(first, str)
        with pytest.raises(IdempotencyKeyInUse):
            store.claim(SCOPE, "k", "h")
        time.sleep(2.1)  # the first claimant seems dead
        second = store.claim(SCOPE, "k", "h")
        assert isinstance(second, str) and second != first
        with pytest.raises(IdempotencyKeyInUse):  # and the new claim holds in turn
            store.claim(SCOPE, "k", "h")
        late = StoredResponse(409, {}, b"late")  # the first claimant answers after all
        assert not store.complete(SCOPE, "k", first, late)
        store.release(SCOPE, "k", first)  # nor can it free the key under the new holder
        assert store.complete(SCOPE, "k", second, StoredResponse(201, {}, b"ok"))
        assert store.claim(SCOPE, "k", "h") == StoredResponse(201, {}, b"ok")


def test_a_released_key_runs_again(database: str) -> None:
    with engine_at(database) as engine:
        store = IdempotencyStore(engine)
        claim = store.claim(SCOPE, "k", "h")
        assert isinstance(claim, str)
        store.release(SCOPE, "k", claim)  # a 5xx: the client is meant to retry
        assert isinstance(store.claim(SCOPE, "k", "h"), str)


def test_expired_keys_are_purged_in_batches_and_the_others_kept(database: str) -> None:
    with engine_at(database) as engine:
        short = IdempotencyStore(engine, lease_s=0.2, keep_s=0.2)
        kept = IdempotencyStore(engine)  # a day's keeping, a minute's lease
        answer = StoredResponse(201, {}, b"ok")
        for n in range(5):  # answered, kept 0.2 s
            claim = short.claim(SCOPE, f"old-{n}", "h")
            assert isinstance(claim, str) and short.complete(SCOPE, f"old-{n}", claim, answer)
        abandoned = short.claim(SCOPE, "abandoned", "h")  # its process died: lease 0.2 s
        fresh = kept.claim(SCOPE, "fresh", "h")
        assert isinstance(fresh, str) and kept.complete(SCOPE, "fresh", fresh, answer)
        running = kept.claim(SCOPE, "running", "h")
        time.sleep(0.3)

        assert kept.purge_expired(batch=2) == 6  # three batches: 2, 2, 2
        assert kept.purge_expired() == 0

        assert kept.claim(SCOPE, "fresh", "h") == answer  # still replayed
        with pytest.raises(IdempotencyKeyInUse):
            kept.claim(SCOPE, "running", "h")
        assert isinstance(running, str) and isinstance(abandoned, str)
        assert isinstance(kept.claim(SCOPE, "old-0", "other"), str)  # gone: runs anew
        assert not short.complete(SCOPE, "abandoned", abandoned, answer)  # too late now
