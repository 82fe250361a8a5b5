"""HTTP edge, v1: `GET /reports/sales` answered as the legacy shop answers it, byte for byte
(`legacy_app/API.md`), from the projection instead of a scan of every order."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from new_services.analytics.errors import InvalidPeriod
from new_services.analytics.model import Period
from new_services.analytics.service import Reports
from new_services.platform.v1 import legacy_json


def _first(request: Request, name: str) -> str:
    """The first value given, as Flask's `request.args.get` (Starlette's `get` takes the last)."""
    values = request.query_params.getlist(name)
    return values[0] if values else ""


class SalesReportV1:
    def __init__(self, reports: Reports) -> None:
        self._reports = reports

    def routes(self) -> list[Route]:
        return [Route("/reports/sales", self.sales_report, methods=["GET"])]

    async def sales_report(self, request: Request) -> Response:
        start, end = _first(request, "from"), _first(request, "to")
        try:
            period = Period.legacy(start, end)
        except InvalidPeriod as exc:
            # answered, not raised as LegacyError, so that the bytes are legacy's too
            return legacy_json({"error": "validation_error", "message": str(exc)}, 400)
        report = await self._reports.sales(period)
        # legacy echoes `from` and `to` as they were sent, not as it read them
        return legacy_json({"from": start, "to": end, **report.figures()})
