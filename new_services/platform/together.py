"""Two independent awaits made at once, their failures raised in the order they are written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """`first` and `second` at once, so the caller waits for the slower instead of the sum.

    Both are always awaited to the end, and if either failed, `first`'s failure is the one
    raised: the answer is the one the two calls made one after the other would have given
    (a check written first, such as "does this user exist", still wins)."""
    one, two = await asyncio.gather(first, second, return_exceptions=True)
    if isinstance(one, BaseException):
        raise one
    if isinstance(two, BaseException):
        raise two
    return one, two
