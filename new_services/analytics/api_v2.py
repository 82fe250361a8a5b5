"""HTTP edge, v2: `GET /v2/reports/sales`, problem+json errors, an ETag, at most 366 days.

The body holds the figures and nothing about when they were read (no `as_of`): it changes
only when the range's figures change, so a client revalidating with `If-None-Match` gets
`304` until a sale or a cancellation lands in its range.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from new_services.analytics.errors import InvalidPeriod
from new_services.analytics.model import Period
from new_services.analytics.service import Reports
from new_services.platform.http import cached_json
from new_services.platform.problems import InvalidRequest


def _once(request: Request, name: str) -> str:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} must be given once")
    return values[0] if values else ""


class SalesReportV2:
    def __init__(self, reports: Reports) -> None:
        self._reports = reports

    def routes(self) -> list[Route]:
        return [Route("/v2/reports/sales", self.sales_report, methods=["GET"])]

    async def sales_report(self, request: Request) -> Response:
        try:
            period = Period.strict(_once(request, "from"), _once(request, "to"))
        except InvalidPeriod as exc:
            raise InvalidRequest(str(exc)) from exc
        report = await self._reports.sales(period)
        body = {"from": period.first.isoformat(), "to": period.last.isoformat()}
        # figures move as events arrive: caches may keep the answer but must revalidate
        headers = {"Cache-Control": "no-cache"}
        return cached_json(request, {**body, **report.figures()}, headers)
