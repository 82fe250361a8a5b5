"""One side effect per event (notifications/once.py), on a real Redis."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from redis import Redis

from new_services.notifications.once import Once, StillRunning


@pytest.fixture
def once(redis_url: str) -> Once:
    return Once(Redis.from_url(redis_url), f"test-{uuid.uuid4().hex}", lease_s=1)


def test_a_second_delivery_waits_for_the_first_and_then_does_nothing(once: Once) -> None:
    first = once.claim("mail", "e1")
    assert first is not None
    threading.Timer(0.3, once.done, ("mail", "e1", first)).start()
    started = time.monotonic()
    assert once.claim("mail", "e1", wait_s=1) is None  # the first one sent it
    assert 0.2 < time.monotonic() - started < 0.9


def test_a_delivery_after_a_worker_died_mid_way_goes_ahead_once_its_lease_runs_out(
    once: Once,
) -> None:
    """The worker that claimed it was killed: nobody marks it done. The retry of its job waits
    for the lease instead of failing (each failure costs one of the job's few retries)."""
    assert once.claim("mail", "e2") is not None
    with pytest.raises(StillRunning):  # a duplicate that does not wait is told to come back
        once.claim("mail", "e2")
    started = time.monotonic()
    assert once.claim("mail", "e2", wait_s=2) is not None
    assert 0.8 < time.monotonic() - started < 1.8
