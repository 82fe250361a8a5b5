"""Housekeeping rounds (platform/periodic.py): run on time, survive a failed round, stop
with the block, and never start when switched off."""

from __future__ import annotations

import asyncio

import pytest

from new_services.platform.periodic import periodically

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_rounds_run_until_the_block_ends_and_a_failed_one_does_not_stop_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="new_services.platform.periodic")
    rounds: list[int] = []

    async def job() -> int:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("the database went away")
        return 1

    async with periodically("tidied", 0.01, job):
        while len(rounds) < 4:
            await asyncio.sleep(0.005)
    ran = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == ran  # stopped with the block
    assert "tidied failed" in caplog.text and "tidied: 1" in caplog.text


async def test_a_round_every_zero_seconds_means_never() -> None:
    async def job() -> int:
        raise AssertionError("must not run")

    async with periodically("tidied", 0, job):
        await asyncio.sleep(0.02)
