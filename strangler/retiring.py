"""Whether legacy may be retired: each check with the figure it read, in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.routes import RouteTable, reaching
from migrations.history import Step
from new_services.outbox_relay.lag import Lag

# The legacy shop's API (legacy_app/API.md), one request per endpoint; its /healthz and
# /static are its own, not the shop's. A test holds this to the Flask app's url_map.
LEGACY_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("POST", "/users"),
    ("GET", "/users/1"),
    ("GET", "/products"),
    ("POST", "/products"),
    ("GET", "/products/1"),
    ("PATCH", "/products/1"),
    ("DELETE", "/products/1"),
    ("GET", "/users/1/cart"),
    ("POST", "/users/1/cart/items"),
    ("DELETE", "/users/1/cart/items/1"),
    ("POST", "/users/1/checkout"),
    ("GET", "/users/1/orders"),
    ("GET", "/orders/1"),
    ("POST", "/orders/1/cancel"),
    ("GET", "/reports/sales"),
)
# Flask answers HEAD with the GET view: a route listing only GET leaves HEAD to legacy
LEGACY_REQUESTS = LEGACY_ENDPOINTS + tuple(("HEAD", p) for m, p in LEGACY_ENDPOINTS if m == "GET")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    figure: str  # what was read, and when not ok, what to do


def routes(table: RouteTable, upstream: str = "legacy") -> Check:
    """No route can send to legacy: every one extracted, with fallback off."""
    ways = reaching(table.routes, upstream)
    figure = f"{len(ways)} of {len(table.routes)} routes can send to {upstream}"
    if ways:
        figure += (
            f": {'; '.join(ways)} (`strangler routes set NAME --mode extracted --no-fallback "
            "--reason ...`)"
        )
    return Check("routes", not ways, figure)


def default_route(
    table: RouteTable, requests: Sequence[tuple[str, str]] = LEGACY_REQUESTS
) -> Check:
    """Every request of legacy's API has a route: none is left to the default route, which
    sends to legacy (and answers 404 once it is retired)."""
    left = [f"{m} {p}" for m, p in requests if table.match(m, p).route is table.default]
    figure = f"{len(left)} of {len(requests)} legacy endpoints fall to the default route"
    if left:
        figure += f": {', '.join(left)} (give each a route to an extracted service first)"
    return Check("default route", not left, figure)


def quiet(legacy_requests: Mapping[str, int], capture_age_s: float | None, minutes: float) -> Check:
    """Legacy took no write in the last `minutes`: the gateway counted no request answered
    by legacy on any route (every instance's signals; reads too, since signals do not tell
    methods apart), and the newest order write of legacy's that capture saw is older."""
    served = {name: n for name, n in legacy_requests.items() if n}
    window = minutes * 60
    recent_capture = capture_age_s is not None and capture_age_s < window
    seen = (
        "no legacy write captured"
        if capture_age_s is None
        else f"newest captured legacy write {capture_age_s / 60:.1f} min ago"
    )
    figure = (
        f"legacy answered {sum(served.values())} requests in the last {minutes:g} min"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(served.items()))})" if served else "")
        + f"; {seen}"
    )
    if served or recent_capture:
        figure += f": wait until legacy has been idle {minutes:g} min"
    return Check("no legacy writes", not served and not recent_capture, figure)


def drained(lags: Mapping[str, Lag] | None, max_lag_s: float) -> Check:
    """Capture has drained: every read model has taken in every write (lag within bound,
    nothing parked); no figures means no relay, so nothing is known."""
    if lags is None:
        return Check(
            "capture drained", False, "no lag figures: the outbox relay is not running (start it)"
        )
    behind = [
        f"{name} {lag.seconds:.1f} s" + (f" ({lag.failed} parked)" if lag.failed else "")
        for name, lag in sorted(lags.items())
    ]
    ok = all(lag.seconds <= max_lag_s and not lag.failed for lag in lags.values())
    figure = f"read models behind by: {', '.join(behind) or 'none'} (at most {max_lag_s:g} s)"
    return Check("capture drained", ok, figure)


def schema_serves_legacy(contract_steps: Sequence[Step], expand_head: str) -> Check:
    """Legacy can come back only while no contract step has removed what it needs."""
    if not contract_steps:
        return Check("schema serves legacy", True, "no contract step has run")
    removed = "; ".join(
        f"{s.revision} removed {s.loses or 'what legacy needs'}" for s in contract_steps
    )
    return Check(
        "schema serves legacy",
        False,
        f"{removed}: legacy would fail on this schema. Go back first with `strangler migrate "
        f"downgrade {expand_head}` (each step says what its downgrade cannot bring back)",
    )
