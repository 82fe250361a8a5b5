"""Orders asks the users service for a checkout's customer (no longer the legacy app): a
user found is asked for once, one not found every time, one that cannot exist never, and a
users service that does not answer is `Unavailable` (a 503 to the client, never a 404)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from new_services.orders.adapters import MAX_USER_ID, UsersAdapter
from new_services.orders.model import Customer
from new_services.orders.ports import Unavailable
from new_services.users.client import UsersClient

pytestmark = pytest.mark.anyio


class UsersService:
    """The users service's `GET /v2/users?legacy_id=`, counting what it is asked."""

    def __init__(self, known: dict[int, str]) -> None:
        self.known = known
        self.asked: list[str] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/users"
        wanted = request.url.params["legacy_id"]
        self.asked.append(wanted)
        if self.down:
            return httpx.Response(503)
        users = [
            {"id": str(uuid.uuid4()), "legacy_id": i, "email": f"{name}@example.com", "name": name}
            for i, name in self.known.items()
            if str(i) == wanted
        ]
        return httpx.Response(200, json={"users": users, "next": None})


def adapter(service: UsersService, remember: int = 10_000) -> UsersAdapter:
    http = httpx.AsyncClient(transport=httpx.MockTransport(service), base_url="http://users")
    return UsersAdapter(UsersClient(http), remember=remember)


async def test_a_user_found_is_asked_for_once_and_one_not_found_every_time() -> None:
    service = UsersService({7: "ada"})
    customers = adapter(service)
    assert await customers.get(7) == Customer(7, "ada@example.com", "ada")
    assert await customers.get(7) == Customer(7, "ada@example.com", "ada")
    assert await customers.get(8) is None
    service.known[8] = "bo"  # signed up a moment later
    assert await customers.get(8) == Customer(8, "bo@example.com", "bo")
    assert service.asked == ["7", "8", "8"]


async def test_only_the_most_recently_used_users_are_remembered() -> None:
    service = UsersService({1: "a", 2: "b", 3: "c"})
    customers = adapter(service, remember=2)
    for user_id in (1, 2, 1, 3, 1, 2):
        await customers.get(user_id)
    assert service.asked == ["1", "2", "3", "2"]  # 2 was the least recent when 3 came


async def test_an_id_no_user_can_have_is_not_asked_about() -> None:
    service = UsersService({})
    customers = adapter(service)
    for user_id in (0, -1, MAX_USER_ID + 1):
        assert await customers.get(user_id) is None
    assert service.asked == []


async def test_a_users_service_that_does_not_answer_is_unavailable_not_an_unknown_user() -> None:
    service = UsersService({7: "ada"})
    service.down = True
    with pytest.raises(Unavailable):
        await adapter(service).get(7)
