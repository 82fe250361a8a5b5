"""HTTP edge, v2: users by UUID, cursor pages, filters, ETags, problem+json, Idempotency-Key."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from new_services.platform.http import (
    MAX_PAGE,
    cached_json,
    decode_cursor,
    dry_run_headers,
    encode_cursor,
    is_dry_run,
    json_object,
    page_size,
)
from new_services.platform.idempotency import IdempotencyStore, idempotent
from new_services.platform.problems import InvalidRequest
from new_services.platform.v1 import MAX_ID, is_int
from new_services.users.errors import UserNotFound
from new_services.users.model import NewUser, User, email_filter
from new_services.users.service import UsersService


class Wiring:
    """What the composition root builds in the lifespan, for the handlers to use."""

    service: UsersService
    keys: IdempotencyStore


def _user_uuid(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["user_id"])
    except ValueError as exc:
        raise UserNotFound(f"no user {request.path_params['user_id']}") from exc


def _legacy_ids(request: Request) -> list[int] | None:
    raw = request.query_params.getlist("legacy_id")
    if not raw:
        return None
    if len(raw) > MAX_PAGE:
        raise InvalidRequest(f"at most {MAX_PAGE} legacy_id values per request")
    if not all(value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ID for value in raw):
        raise InvalidRequest("legacy_id must be a positive 64-bit integer")
    return sorted({int(value) for value in raw})


def _after(request: Request) -> int:
    cursor = request.query_params.get("cursor")
    if cursor is None:
        return 0
    after = decode_cursor(cursor).get("after")
    if not is_int(after) or not 0 <= after <= MAX_ID:
        raise InvalidRequest("cursor is not one this service gave out")
    return after


class UsersV2:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            # one route per path, so a wrong method gets 405 with the full Allow header
            Route("/v2/users", self.collection, methods=["GET", "POST"]),
            Route("/v2/users/{user_id}", self.item, methods=["GET"]),
        ]

    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        return await self.list_users(request)

    async def item(self, request: Request) -> Response:
        user = await self._wiring.service.user_by_uuid(_user_uuid(request))
        return cached_json(request, user.v2_json())

    async def list_users(self, request: Request) -> Response:
        """By legacy id, `limit` per page (at most 100); `next` is the next page's cursor.
        Filters: `email` (any case), and `legacy_id` (repeatable, up to 100: how other
        domains look their users up)."""
        limit, after = page_size(request), _after(request)
        raw_email = request.query_params.get("email")
        email = None if raw_email is None else email_filter(raw_email)
        ids = _legacy_ids(request)
        service = self._wiring.service
        found: list[User]
        if ids is None:
            found = await service.page(after, limit + 1, email)
        else:
            by_id = await service.users([i for i in ids if i > after])
            found = [u for _, u in sorted(by_id.items()) if email in (None, u.email)]
        page = found[:limit]
        body: dict[str, Any] = {"users": [u.v2_json() for u in page], "next": None}
        if len(found) > limit:
            body["next"] = encode_cursor({"after": page[-1].id})
        return cached_json(request, body)

    async def create(self, request: Request) -> Response:
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            new = NewUser.v2(json_object(body))
            user = await self._wiring.service.sign_up(new, dry_run=dry_run)
            headers = {"Location": f"/v2/users/{user.uuid}"}
            if dry_run:
                headers.update(dry_run_headers("$.id", "$.legacy_id", "$.created_at"))
            return JSONResponse(user.v2_json(), status_code=201, headers=headers)

        return await idempotent(
            request, self._wiring.keys, run, scope="POST /v2/users", dry_run=dry_run
        )
