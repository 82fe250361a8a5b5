"""At most one side effect per event, across retries, duplicates and several workers.

A handler claims the event (a Redis key set only if absent, with a lease), does its side
effect, then marks it done for a month. A duplicate finds it done and does nothing; one
that arrives while the first still runs waits for it (up to a lease), then is told to retry
later; one that arrives after the first died mid-way claims it once its lease runs out.
What is left is one narrow window, a crash between the SMTP server's "250 OK" and the mark,
where a message can go twice: e-mails carry the event id as Message-ID, so mail systems
(the stand-in among them) keep one.
"""

from __future__ import annotations

import time
import uuid

from redis import Redis

DONE_FOR_S = 30 * 24 * 3600


class StillRunning(Exception):
    """Another worker holds this event; raising lets RQ retry the job later."""


_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 0
"""


class Once:
    """Claims carry a token: only the worker that claimed an event can mark it done or
    release it, even after its lease ran out and another worker claimed it."""

    def __init__(self, redis: Redis, namespace: str, lease_s: int) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:once:"
        self._lease_s = lease_s
        self._if_mine = redis.register_script(_IF_MINE)

    def claim(self, consumer: str, event_id: str, wait_s: float = 0.0) -> str | None:
        """A token: go ahead, then `done` or `release` with it. None: already done. While
        another holds it, waits up to `wait_s` for it to finish or its lease to run out (a
        worker that died mid-way), then raises StillRunning."""
        key = f"{self._prefix}{consumer}:{event_id}"
        deadline = time.monotonic() + wait_s
        while True:
            token = f"running:{uuid.uuid4()}"
            if self._redis.set(key, token, nx=True, ex=self._lease_s):
                return token
            state = self._redis.get(key)
            if state == b"done":
                return None
            if state is not None and time.monotonic() >= deadline:
                raise StillRunning(f"{consumer} is handling event {event_id} elsewhere")
            if state is not None:
                time.sleep(0.1)

    def done(self, consumer: str, event_id: str, token: str) -> None:
        self._if_mine(
            keys=[f"{self._prefix}{consumer}:{event_id}"], args=[token, "done", DONE_FOR_S]
        )

    def release(self, consumer: str, event_id: str, token: str) -> None:
        """The side effect failed: let the next try claim it at once."""
        self._if_mine(keys=[f"{self._prefix}{consumer}:{event_id}"], args=[token, "", 0])
