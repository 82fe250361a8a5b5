"""The users client against canned answers (httpx.MockTransport): each answer becomes the
account, nobody, or the error other domains branch on."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from new_services.users.client import Account, UsersClient, UsersRefused, UsersUnavailable

pytestmark = pytest.mark.anyio
ADA = uuid.uuid4()


def client(answer: Callable[[httpx.Request], httpx.Response]) -> UsersClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://users")
    return UsersClient(http)


def page(*legacy_ids: int) -> httpx.Response:
    users = [
        {"id": str(ADA), "legacy_id": i, "email": "ada@example.com", "name": "Ada"}
        for i in legacy_ids
    ]
    return httpx.Response(200, json={"users": users, "next": None})


async def test_a_user_is_asked_for_by_legacy_id_and_an_unknown_one_is_nobody() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url.params))
        return page(7) if request.url.params["legacy_id"] == "7" else page()

    users = client(answer)
    assert await users.user(7) == Account(7, ADA, "ada@example.com", "Ada")
    assert await users.user(8) is None
    assert asked == ["legacy_id=7&limit=1", "legacy_id=8&limit=1"]


async def test_an_id_that_names_nobody_is_not_asked_about() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"asked {request.url}")

    users = client(answer)
    assert [await users.user(i) for i in (0, -1, 2**63)] == [None, None, None]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda _: httpx.Response(503), id="5xx"),
        pytest.param(lambda _: httpx.Response(302), id="redirect"),
        pytest.param(lambda _: httpx.Response(200, json={"nobody": []}), id="not-a-page"),
        pytest.param(
            lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
            id="transport",
        ),
    ],
)
async def test_a_users_service_that_does_not_answer_is_unavailable(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    with pytest.raises(UsersUnavailable):
        await client(answer).user(7)


async def test_a_refused_request_says_why() -> None:
    problem = {"type": "urn:strangler-kit:problem:invalid-request", "detail": "limit"}
    with pytest.raises(UsersRefused) as refused:
        await client(lambda _: httpx.Response(400, json=problem)).user(7)
    assert (refused.value.status, refused.value.problem) == (400, problem)
