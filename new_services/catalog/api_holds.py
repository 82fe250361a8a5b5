"""HTTP edge, v2: stock holds for checkouts and restocks for cancelled orders.

A hold is named by its caller (orders uses the draft order's UUID), so `PUT` is its own
idempotency: the same hold again answers 200 and holds nothing more. A restock has no
name of its own and needs an `Idempotency-Key`. A request with `X-Strangler-Shadow:
dry-run` checks everything against the stock of the moment and answers as the real one
would, but writes nothing and keeps no key.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from new_services.catalog.api_v2 import Wiring
from new_services.catalog.errors import HoldNotFound
from new_services.catalog.model import Hold, parse_lines
from new_services.platform.http import dry_run_headers, is_dry_run, json_object, read_body
from new_services.platform.idempotency import idempotent
from new_services.platform.problems import InvalidRequest


def _hold_id(request: Request, unknown: type[Exception]) -> uuid.UUID:
    raw = request.path_params["hold_id"]
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise unknown(f"hold ids are UUIDs, not {raw!r}") from exc


def _answer(hold: Hold, status: int, dry_run: bool) -> Response:
    headers = dry_run_headers() if dry_run else None
    return JSONResponse(hold.as_json(), status_code=status, headers=headers)


class HoldsApi:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            Route("/v2/holds/{hold_id}", self.hold, methods=["GET", "PUT"]),
            Route("/v2/holds/{hold_id}/release", self.release, methods=["POST"]),
            Route("/v2/holds/{hold_id}/commit", self.commit, methods=["POST"]),
            Route("/v2/restocks", self.restock, methods=["POST"]),
        ]

    async def hold(self, request: Request) -> Response:
        if request.method == "GET":
            hold = await self._wiring.service.find_hold(_hold_id(request, HoldNotFound))
            return JSONResponse(hold.as_json())
        hold_id, dry_run = _hold_id(request, InvalidRequest), is_dry_run(request)
        lines = parse_lines(json_object(await read_body(request)))
        hold, made = await self._wiring.service.hold(hold_id, lines, dry_run=dry_run)
        return _answer(hold, 201 if made else 200, dry_run)

    async def release(self, request: Request) -> Response:
        hold_id, dry_run = _hold_id(request, HoldNotFound), is_dry_run(request)
        hold = await self._wiring.service.release(hold_id, dry_run=dry_run)
        return _answer(hold, 200, dry_run)

    async def commit(self, request: Request) -> Response:
        hold_id, dry_run = _hold_id(request, HoldNotFound), is_dry_run(request)
        hold = await self._wiring.service.commit(hold_id, dry_run=dry_run)
        return _answer(hold, 200, dry_run)

    async def restock(self, request: Request) -> Response:
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            lines = parse_lines(json_object(body))
            key = request.headers["idempotency-key"]
            restock_id, done = await self._wiring.service.restock(key, lines, dry_run=dry_run)
            restocked = {line.product_id for line in done}
            answer = {
                "id": str(restock_id),
                "lines": [line.as_json() for line in done],
                "skipped": [line.product_id for line in lines if line.product_id not in restocked],
            }
            headers = dry_run_headers() if dry_run else None
            return JSONResponse(answer, status_code=201, headers=headers)

        return await idempotent(
            request, self._wiring.keys, run, scope="POST /v2/restocks", dry_run=dry_run
        )
