"""HTTP edge, v2: payments by UUID, cursor pages, ETags, problem+json, Idempotency-Key."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from new_services.payments.errors import PaymentNotFound
from new_services.payments.model import (
    AdoptCharge,
    ChargeOrder,
    PaymentStatus,
    RefundPayment,
    RefundStatus,
    payment_id_for,
)
from new_services.payments.service import PaymentService
from new_services.platform.http import (
    cached_json,
    is_dry_run,
    json_object,
    page_size,
    read_body,
    sorts_oldest_first,
    time_cursor,
    time_position,
)
from new_services.platform.idempotency import IdempotencyStore, idempotent
from new_services.platform.problems import InvalidRequest


def _uuid_of(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError("a UUID is written as a string")
    return uuid.UUID(value)


def _payment_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["payment_id"])
    except ValueError as exc:
        raise PaymentNotFound(f"no payment {request.path_params['payment_id']}") from exc


class Wiring:
    """What the composition root builds in the lifespan, for the handlers to use."""

    service: PaymentService
    keys: IdempotencyStore


class PaymentsApi:
    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def routes(self) -> list[Route]:
        return [
            # one route per path, so a wrong method gets 405 with the full Allow header
            Route("/v2/payments", self.payments, methods=["GET", "POST"]),
            Route("/v2/payments/{payment_id}", self.get_payment, methods=["GET"]),
            Route("/v2/payments/{payment_id}/refunds", self.refund, methods=["POST"]),
            Route("/v2/adopted-charges/{charge_id}", self.adopt, methods=["PUT"]),
            Route("/v2/payments/{payment_id}/abandonment", self.abandon, methods=["POST"]),
        ]

    async def payments(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.charge(request)
        return await self.list_payments(request)

    async def charge(self, request: Request) -> Response:
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            command = ChargeOrder.parse(json_object(body))
            key = request.headers["idempotency-key"]
            payment = await self._wiring.service.charge(
                command, payment_id_for(key), dry_run=dry_run
            )
            headers = {"Location": f"/v2/payments/{payment.id}"}
            if dry_run:
                headers["X-Strangler-Dry-Run"] = "true"
            return JSONResponse(payment.as_json(), status_code=201, headers=headers)

        return await idempotent(
            request, self._wiring.keys, run, scope="POST /v2/payments", dry_run=dry_run
        )

    async def refund(self, request: Request) -> Response:
        payment_id = _payment_id(request)
        dry_run = is_dry_run(request)

        async def run(body: bytes) -> Response:
            fields = json_object(body) if body.strip() else {}  # none: all that is left
            command = RefundPayment.parse(payment_id, fields)
            refund, payment = await self._wiring.service.refund(
                command, request.headers["idempotency-key"], dry_run=dry_run
            )
            headers = {"X-Strangler-Dry-Run": "true"} if dry_run else None
            body_json = {**refund.as_json(), "payment": payment.as_json()}
            # 202: the provider's answer was lost; the refund is pending, and a retry with
            # the key (or the settler) finishes it. Not kept for the key, so a retry runs.
            done = dry_run or refund.status is RefundStatus.SUCCEEDED
            return JSONResponse(body_json, status_code=201 if done else 202, headers=headers)

        scope = f"POST /v2/payments/{payment_id}/refunds"  # the parsed id: one key per refund
        return await idempotent(request, self._wiring.keys, run, scope=scope, dry_run=dry_run)

    async def adopt(self, request: Request) -> Response:
        """PUT, so idempotent by itself: the charge names its one payment."""
        body = json_object(await read_body(request))
        command = AdoptCharge.parse(request.path_params["charge_id"], body)
        dry_run = is_dry_run(request)
        payment = await self._wiring.service.adopt(command, dry_run=dry_run)
        headers = {"Location": f"/v2/payments/{payment.id}"}
        if dry_run:
            headers["X-Strangler-Dry-Run"] = "true"
        return JSONResponse(payment.as_json(), headers=headers)

    async def abandon(self, request: Request) -> Response:
        """The orders service's settler: the order this captured payment was for was never
        placed, and never will be. Voids it and refunds what is left; again, the same."""
        if (await request.body()).strip():
            raise InvalidRequest("an abandonment takes no body")
        payment = await self._wiring.service.abandon(_payment_id(request))
        return JSONResponse(payment.as_json())

    async def get_payment(self, request: Request) -> Response:
        payment = await self._wiring.service.get(_payment_id(request))
        return cached_json(request, payment.as_json())

    async def list_payments(self, request: Request) -> Response:
        """`limit` per page (at most 100), newest first or, with `sort=created_at`, oldest
        first; `next` is the cursor of the next page; `status` keeps only those in it."""
        limit = page_size(request)
        oldest = sorts_oldest_first(request)
        after = time_position(request, oldest, _uuid_of)
        status = None
        if "status" in request.query_params:
            try:
                status = PaymentStatus(request.query_params["status"])
            except ValueError:
                known = ", ".join(s.value for s in PaymentStatus)
                raise InvalidRequest(f"status must be one of: {known}") from None
        page = await self._wiring.service.page(after, limit + 1, oldest, status)
        more = len(page) > limit
        page = page[:limit]
        body: dict[str, Any] = {"payments": [p.as_json() for p in page], "next": None}
        if more:
            body["next"] = time_cursor(page[-1].created_at, str(page[-1].id), oldest)
        return cached_json(request, body)
