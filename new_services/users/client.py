"""The users service as other domains use it: a client of its v2 HTTP API.

The only module of this package another domain may import. Pass it an
`httpx.AsyncClient` whose base_url is the users service (tests pass one over
`httpx.ASGITransport`).

UsersError
├── UsersUnavailable   transport error, 5xx, or an answer no users service gives
└── UsersRefused       a 4xx: the request itself was wrong (`status`, `problem`)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from new_services.platform.clients import answer_object

MAX_ID = 2**63 - 1


class UsersError(Exception):
    pass


class UsersUnavailable(UsersError):
    pass


class UsersRefused(UsersError):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


@dataclass(frozen=True)
class Account:
    id: int  # the legacy id
    uuid: uuid.UUID
    email: str
    name: str


class UsersClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def user(self, legacy_id: int) -> Account | None:
        """The user with this legacy id; None when there is none."""
        if not 1 <= legacy_id <= MAX_ID:
            return None
        params = {"legacy_id": str(legacy_id), "limit": "1"}
        try:
            response = await self._http.get("/v2/users", params=params)
        except httpx.TransportError as exc:
            raise UsersUnavailable(f"the users service did not answer: {exc}") from exc
        if response.status_code >= 500:
            raise UsersUnavailable(f"the users service answered {response.status_code}")
        if 400 <= response.status_code < 500:
            raise UsersRefused(response.status_code, answer_object(response))
        if response.status_code != 200:
            raise UsersUnavailable(f"unexpected {response.status_code} from the users service")
        try:
            found = answer_object(response)["users"]
            if not found:
                return None
            raw = found[0]
            return Account(int(raw["legacy_id"]), uuid.UUID(raw["id"]), raw["email"], raw["name"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise UsersUnavailable(f"not a page of users: {exc}") from exc
