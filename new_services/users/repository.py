"""Where users are kept: a port, its SQL implementation and an in-memory one for tests.

Users are never deleted (neither legacy nor this service can), so every read sees every
row. Rows made before the UUID expand step that the backfill has not reached yet get their
UUID on first read, with the backfill's own condition (`WHERE uuid IS NULL`), so the two
never disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from new_services.platform.database import single_statement_reads
from new_services.users.errors import EmailTaken
from new_services.users.model import NewUser, User
from new_services.users.tables import legacy_now, users

Clock = Callable[[], datetime]  # naive UTC to the second, as `created_at` is kept
TAKEN = "a user with this e-mail already exists"  # legacy's words


class UserRepository(Protocol):
    def get_many(self, ids: Sequence[int]) -> dict[int, User]:
        """The users among `ids` (unknown ones are absent)."""
        ...

    def id_of(self, user_uuid: uuid.UUID) -> int | None: ...

    def page(self, after: int, limit: int, email: str | None = None) -> list[User]:
        """Up to `limit` users with an id above `after`, by id; `email`: only that one."""
        ...

    def create(self, new: NewUser, *, dry_run: bool = False) -> User:
        """Raises EmailTaken. A dry run only reads: its id and uuid are placeholders."""
        ...


def _user(row: Any) -> User:
    return User(id=row.id, uuid=row.uuid, email=row.email, name=row.name, created_at=row.created_at)


class SqlUserRepository:
    def __init__(self, engine: Engine, clock: Clock = legacy_now) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)
        self._clock = clock

    def _read(self, *conditions: Any, limit: int | None = None) -> list[User]:
        query = select(users).where(*conditions).order_by(users.c.id).limit(limit)
        with self._reads.connect() as conn:
            rows = conn.execute(query).all()
        unminted = [row.id for row in rows if row.uuid is None]
        if unminted:
            with self._engine.begin() as conn:
                self._mint(conn, unminted)
            with self._reads.connect() as conn:
                rows = conn.execute(query).all()
        return [_user(row) for row in rows]

    @staticmethod
    def _mint(conn: Connection, ids: Iterable[int]) -> None:
        for user_id in ids:
            conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.uuid.is_(None))
                .values(uuid=uuid.uuid4())
            )

    def get_many(self, ids: Sequence[int]) -> dict[int, User]:
        if not ids:
            return {}
        return {u.id: u for u in self._read(users.c.id.in_(sorted(set(ids))))}

    def id_of(self, user_uuid: uuid.UUID) -> int | None:
        with self._reads.connect() as conn:
            found = conn.execute(select(users.c.id).where(users.c.uuid == user_uuid)).scalar()
        return None if found is None else int(found)

    def page(self, after: int, limit: int, email: str | None = None) -> list[User]:
        conditions = [users.c.id > after]
        if email is not None:
            conditions.append(users.c.email == email)  # the unique index on email serves it
        return self._read(*conditions, limit=limit)

    def create(self, new: NewUser, *, dry_run: bool = False) -> User:
        now = self._clock()
        if dry_run:
            return self._would_create(new, now)
        try:
            with self._engine.begin() as conn:
                user_id = conn.execute(
                    insert(users)
                    .values(email=new.email, name=new.name, created_at=now)
                    .returning(users.c.id)
                ).scalar_one()
                row = conn.execute(select(users).where(users.c.id == user_id)).one()
                if row.uuid is None:  # a database the expand step has not reached
                    self._mint(conn, [user_id])
                    row = conn.execute(select(users).where(users.c.id == user_id)).one()
                return _user(row)
        except IntegrityError as exc:  # the legacy unique constraint on email
            raise EmailTaken(TAKEN) from exc

    def _would_create(self, new: NewUser, now: datetime) -> User:
        """What `create` would answer, from one read: a user that is not made has no id."""
        with self._reads.connect() as conn:
            taken = conn.execute(select(users.c.id).where(users.c.email == new.email)).first()
        if taken is not None:
            raise EmailTaken(TAKEN)
        return User(0, uuid.UUID(int=0), new.email, new.name, now)


class InMemoryUserRepository:
    def __init__(self, clock: Clock = legacy_now) -> None:
        self.users: dict[int, User] = {}
        self._clock = clock

    def get_many(self, ids: Sequence[int]) -> dict[int, User]:
        return {i: self.users[i] for i in ids if i in self.users}

    def id_of(self, user_uuid: uuid.UUID) -> int | None:
        return next((u.id for u in self.users.values() if u.uuid == user_uuid), None)

    def page(self, after: int, limit: int, email: str | None = None) -> list[User]:
        found = [
            u for _, u in sorted(self.users.items()) if u.id > after and email in (None, u.email)
        ]
        return found[:limit]

    def create(self, new: NewUser, *, dry_run: bool = False) -> User:
        if any(u.email == new.email for u in self.users.values()):
            raise EmailTaken(TAKEN)
        now = self._clock()
        if dry_run:  # placeholders, as the SQL repository answers
            return User(0, uuid.UUID(int=0), new.email, new.name, now)
        user = User(max([0, *self.users]) + 1, uuid.uuid4(), new.email, new.name, now)
        self.users[user.id] = user
        return user
