"""The users service's use cases: look users up (by legacy id, by UUID, a page) and sign
one up, each as a problem when there is nothing to answer with."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

import anyio.to_thread

from new_services.users.errors import UserNotFound
from new_services.users.model import NewUser, User
from new_services.users.repository import UserRepository

P = ParamSpec("P")
T = TypeVar("T")


class UsersService:
    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def _db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Repositories block; run them on a worker thread, off the event loop."""
        return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))

    async def users(self, ids: Sequence[int]) -> dict[int, User]:
        """The users among `ids`; unknown ones are absent."""
        return await self._db(self._users.get_many, ids)

    async def user(self, user_id: int) -> User:
        found = (await self.users([user_id])).get(user_id)
        if found is None:
            raise UserNotFound(f"no user {user_id}")  # legacy's words
        return found

    async def user_by_uuid(self, user_uuid: uuid.UUID) -> User:
        user_id = await self._db(self._users.id_of, user_uuid)
        found = None if user_id is None else (await self.users([user_id])).get(user_id)
        if found is None:
            raise UserNotFound(f"no user {user_uuid}")
        return found

    async def page(self, after: int, limit: int, email: str | None = None) -> list[User]:
        return await self._db(self._users.page, after, limit, email)

    async def sign_up(self, new: NewUser, *, dry_run: bool = False) -> User:
        """Raises EmailTaken; a dry run checks the same and keeps nothing."""
        return await self._db(self._users.create, new, dry_run=dry_run)
