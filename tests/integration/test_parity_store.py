"""The parity store, in Redis (what every gateway instance shares) and in memory (a gateway
without Redis): totals, a recent window, per table version, noise, reset."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.parity import InMemoryParityStore, ParityStore, RedisParityStore

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["redis", "memory"])
async def store(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[tuple[ParityStore, Clock]]:
    clock = Clock()
    if request.param == "memory":
        yield InMemoryParityStore(clock=clock), clock
        return
    redis = Redis.from_url(redis_url)
    try:
        yield RedisParityStore(redis, f"test-parity-{uuid.uuid4().hex}", clock=clock), clock
    finally:
        await redis.aclose()


Store = tuple[ParityStore, Clock]


async def counted(store: ParityStore, outcomes: dict[str, int], version: int) -> None:
    for outcome, n in outcomes.items():
        await store.count("orders", outcome, version, n=n)


async def test_parity_is_matches_over_comparisons_with_the_rest_beside_it(store: Store) -> None:
    parity, _ = store
    await counted(parity, {"match": 997, "mismatch": 3, "late": 40, "stale": 9}, version=4)
    figures = (await parity.figures())["orders"]
    assert figures["parity"] == 0.997
    assert (figures["late"], figures["stale"], figures["moved"]) == (40, 9, 0)


async def test_the_window_shows_only_the_recent_minutes_and_the_total_keeps_everything(
    store: Store,
) -> None:
    parity, clock = store
    await counted(parity, {"mismatch": 50}, version=4)  # a bug, since fixed
    clock.now += 600
    await counted(parity, {"match": 100}, version=5)
    figures = (await parity.figures(window_s=300))["orders"]
    assert figures["parity"] == round(100 / 150, 4)
    assert figures["window"] == {"seconds": 300, "match": 100, "parity": 1.0}
    assert figures["versions"] == {
        "4": {"mismatch": 50, "parity": 0.0},
        "5": {"match": 100, "parity": 1.0},
    }
    wider = (await parity.figures(window_s=900))["orders"]["window"]
    assert wider["parity"] == round(100 / 150, 4)


async def test_a_reset_forgets_the_route_s_counts_noise_and_samples_and_no_other_route(
    store: Store,
) -> None:
    parity, _ = store
    await counted(parity, {"mismatch": 5, "noise_mismatch": 4}, version=2)
    await parity.count("orders", "noise_mismatch", 2, ["$.nonce"], n=1)
    await parity.sample("orders", {"diff": "$.total: 1 != 2"})
    await parity.count("products", "match", 2)
    await parity.reset("orders")
    figures = await parity.figures()
    assert "products" in figures and figures["products"]["match"] == 1
    assert figures.get("orders", {}).get("mismatch", 0) == 0
    assert await parity.samples("orders", 10) == []
    assert await parity.noise("orders") == frozenset()


async def test_a_path_is_noise_only_once_legacy_differed_there_often_enough(
    store: Store,
) -> None:
    parity, _ = store
    await counted(parity, {"noise_match": 90}, version=1)
    for _ in range(2):  # twice in 92 comparisons: a moment, not noise
        await parity.count("orders", "noise_mismatch", 1, ["$.nonce", "$.stock"])
    assert await parity.noise("orders") == frozenset()
    for _ in range(3):
        await parity.count("orders", "noise_mismatch", 1, ["$.nonce"])
    assert await parity.noise("orders") == {"$.nonce"}
    figures = (await parity.figures())["orders"]
    assert figures["noise_discounted_paths"] == ["$.nonce"]
    assert figures["noise_paths"] == {"$.nonce": 5, "$.stock": 2}


async def test_discounted_matches_name_the_noise_paths_they_were_let_off(store: Store) -> None:
    parity, _ = store
    await parity.count("orders", "match", 1)
    await parity.count("orders", "discounted", 1, ["$.nonce"])
    figures = (await parity.figures())["orders"]
    assert (figures["match"], figures["discounted"]) == (1, 1)
    assert figures["discounted_paths"] == {"$.nonce": 1}
    assert figures["noise_paths"] == {}
