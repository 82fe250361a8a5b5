"""The users service's use cases with an in-memory repository and a fixed clock: a sign-up
is read back at once, an address is taken in any case, a dry run keeps nothing."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from new_services.users.errors import EmailTaken, UserNotFound
from new_services.users.model import NewUser
from new_services.users.repository import InMemoryUserRepository
from new_services.users.service import UsersService

pytestmark = pytest.mark.anyio
NOON = datetime(2026, 11, 28, 12, 0)


@pytest.fixture
def service() -> UsersService:
    return UsersService(InMemoryUserRepository(clock=lambda: NOON))


async def test_a_sign_up_is_read_back_by_legacy_id_and_by_uuid(service: UsersService) -> None:
    ada = await service.sign_up(NewUser.v1({"email": "Ada@Example.com", "name": "Ada"}))
    assert (ada.email, ada.created_at) == ("ada@example.com", NOON)
    assert ada.v1_json() == {
        "id": ada.id,
        "email": "ada@example.com",
        "name": "Ada",
        "created_at": "2026-11-28T12:00:00Z",
    }
    assert await service.user(ada.id) == ada
    assert await service.user_by_uuid(ada.uuid) == ada


async def test_an_address_is_taken_whatever_the_case_it_comes_in(service: UsersService) -> None:
    await service.sign_up(NewUser.v1({"email": "ada@example.com", "name": "Ada"}))
    for dry_run in (True, False):
        with pytest.raises(EmailTaken):
            new = NewUser.v1({"email": "ADA@example.com", "name": "Other"})
            await service.sign_up(new, dry_run=dry_run)


async def test_a_dry_run_answers_with_placeholders_and_keeps_nothing(
    service: UsersService,
) -> None:
    new = NewUser.v2({"email": "bo@example.com", "name": "Bo"})
    would = await service.sign_up(new, dry_run=True)
    assert (would.id, would.uuid, would.email) == (0, uuid.UUID(int=0), "bo@example.com")
    assert await service.page(0, 10) == []
    made = await service.sign_up(new)  # the address is still free
    assert made.id == 1


async def test_an_unknown_user_is_a_problem_in_legacys_words(service: UsersService) -> None:
    with pytest.raises(UserNotFound) as missing:
        await service.user(7)
    assert missing.value.detail == "no user 7"
    with pytest.raises(UserNotFound):
        await service.user_by_uuid(uuid.uuid4())
