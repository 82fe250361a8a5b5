"""HTTP edge of the payment stand-in: routes, fault injection and idempotent POSTs."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stand_ins.edge import config_routes, exception_handlers, read_body
from stand_ins.payments.errors import (
    ConfigError,
    InvalidRequest,
    PaymentsError,
    ProviderUnavailable,
    RequestTooLarge,
)
from stand_ins.payments.faults import FaultInjector
from stand_ins.payments.idempotency import LOCK_GRACE_SECONDS, IdempotencyKey, Reply, fingerprint
from stand_ins.payments.model import ChargeStatus
from stand_ins.payments.service import PaymentService

Operation = Callable[[bytes, IdempotencyKey | None], Reply]


class PaymentsApi:
    def __init__(self, service: PaymentService, faults: FaultInjector) -> None:
        self._service = service
        self._faults = faults

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/v1/charges", self.create_charge, methods=["POST"]),
            Route("/v1/charges", self.list_charges, methods=["GET"]),
            Route("/v1/charges/{charge_id}", self.get_charge, methods=["GET"]),
            Route("/v1/refunds", self.create_refund, methods=["POST"]),
            Route("/v1/refunds", self.list_refunds, methods=["GET"]),
            *config_routes(self._faults, "fault", InvalidRequest, RequestTooLarge, ConfigError),
        ]

    async def healthz(self, _: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def create_charge(self, request: Request) -> Response:
        return await self._idempotent(request, "POST /v1/charges", self._service.create_charge)

    async def create_refund(self, request: Request) -> Response:
        return await self._idempotent(request, "POST /v1/refunds", self._service.create_refund)

    async def list_charges(self, request: Request) -> Response:
        status = request.query_params.get("status")
        try:
            wanted = None if status is None else ChargeStatus(status)
        except ValueError as exc:
            choices = ", ".join(s.value for s in ChargeStatus)
            raise InvalidRequest(f"status must be one of: {choices}") from exc
        query = request.query_params
        charges = await run_in_threadpool(
            self._service.charges, query.get("card_token"), wanted, query.get("reference")
        )
        return JSONResponse({"charges": [charge.as_json() for charge in charges]})

    async def get_charge(self, request: Request) -> Response:
        charge = await run_in_threadpool(self._service.charge, request.path_params["charge_id"])
        return JSONResponse(charge.as_json())

    async def list_refunds(self, request: Request) -> Response:
        refunds = await run_in_threadpool(
            self._service.refunds, request.query_params.get("charge_id")
        )
        return JSONResponse({"refunds": [refund.as_json() for refund in refunds]})

    async def _idempotent(self, request: Request, scope: str, operation: Operation) -> Response:
        """Run a POST once per key; every answer, even a replay, is stalled by the latency."""
        claimed: IdempotencyKey | None = None
        reply: Reply | None = None
        replayed = False
        try:
            try:
                if self._faults.should_fail():
                    raise ProviderUnavailable("the provider is unavailable; nothing was done")
                key = IdempotencyKey.from_header(scope, request.headers.get("Idempotency-Key"))
                raw_body = await read_body(request, RequestTooLarge)
                if key is not None:
                    lease = self._faults.config.latency_ms / 1000 + LOCK_GRACE_SECONDS
                    reply = await run_in_threadpool(
                        self._service.claim, key, fingerprint(raw_body), lease
                    )
                    replayed = reply is not None
                    claimed = None if replayed else key
                if reply is None:
                    reply = await run_in_threadpool(operation, raw_body, claimed)
            except PaymentsError as error:
                reply = Reply.of_error(error)
            # Like a slow network: the work is done and recorded, the answer is late.
            await self._faults.stall()
        finally:
            if claimed is not None:
                kept = reply is not None and reply.replayable
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(self._service.settle, claimed, kept=kept)
        assert reply is not None  # every path through the try either sets it or raises
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return JSONResponse(reply.body, status_code=reply.status, headers=headers)


EXCEPTION_HANDLERS = exception_handlers(PaymentsError, "provider")
