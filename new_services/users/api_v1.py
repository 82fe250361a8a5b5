"""HTTP edge, v1: the legacy shop's user endpoints, wire-compatible (legacy_app/API.md).

Same paths, statuses, bodies (byte for byte) and error codes as `legacy_app/app.py`:
`POST /users` and `GET /users/{user_id}`. A user's cart, checkout and orders under
`/users/{user_id}/...` are the orders service's. Two refusals legacy does not make, where
it fails (500) on PostgreSQL instead: an address longer than the column once lower-cased
(`400 validation_error`), and an id past 2**31 - 1 (`404 user_not_found`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from new_services.platform.http import dry_run_headers, is_dry_run
from new_services.platform.v1 import json_body, legacy_json, path_id
from new_services.users.api_v2 import Wiring
from new_services.users.model import NewUser


class UsersV1:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            Route("/users", self.create, methods=["POST"]),
            Route("/users/{user_id:id}", self.get, methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        dry_run = is_dry_run(request)
        new = NewUser.v1(await json_body(request))
        user = await self._wiring.service.sign_up(new, dry_run=dry_run)
        response = legacy_json(user.v1_json(), status_code=201)
        if dry_run:  # a user never made has neither an id nor a moment it was made
            response.headers.update(dry_run_headers("$.id", "$.created_at"))
        return response

    async def get(self, request: Request) -> Response:
        user = await self._wiring.service.user(path_id(request, "user_id"))
        return legacy_json(user.v1_json())
