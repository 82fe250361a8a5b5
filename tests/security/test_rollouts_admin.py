"""The admin API's rollout calls under missing tokens, cross-site writes and bad bodies: a 4xx
problem saying what is wrong, nothing started, never a 500, and the calls in the OpenAPI
document."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.gateways import GatewayProcess
from tests.security.test_gateway_admin import CROSS_SITE, assert_problem, audit_size

pytestmark = pytest.mark.e2e

Start = Callable[..., GatewayProcess]
ROUTES = """
[upstreams]
legacy = "{legacy}"
extracted = "{extracted}"

[[routes]]
name = "orders"
match = ["/orders/**"]
extracted = "extracted"

[[routes]]
name = "products"
match = ["/products/**"]
extracted = "extracted"

[[routes]]
name = "stock"
match = ["/stock/**"]
extracted = "extracted"

[[routes]]
name = "pages"
match = ["/pages/**"]

[[groups]]
name = "shelf"
routes = ["products", "stock"]
"""
SPEC: dict[str, Any] = {
    "route": "orders",
    "steps": [5, 50, 100],
    "interval": "10s",
    "gates": ["errors<=1%"],
    "reason": "orders 2.0",
}
VERBS = ("pause", "resume", "abort", "promote")


@pytest.fixture
def gw(gateway: Start, upstreams: dict[str, str], tmp_path: Path) -> GatewayProcess:
    routes = tmp_path / "rollouts.toml"
    routes.write_text(ROUTES.format(**upstreams))
    return gateway(GATEWAY_ROUTES_FILE=str(routes))


def start(gw: GatewayProcess, **changes: Any) -> httpx.Response:
    body = {k: v for k, v in {**SPEC, **changes}.items() if v is not None}
    return gw.admin.post("/rollouts", json=body)


def rollouts(gw: GatewayProcess) -> list[dict[str, Any]]:
    answer = gw.admin.get("/rollouts")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["rollouts"]
    return found


def test_every_rollout_call_needs_the_token(gw: GatewayProcess) -> None:
    calls = [("GET", "/rollouts"), ("GET", "/rollouts/orders"), ("POST", "/rollouts")]
    calls += [("POST", f"/rollouts/orders/{verb}") for verb in VERBS]
    with httpx.Client(base_url=gw.admin_url, timeout=10) as anonymous:
        for method, path in calls:
            problem = assert_problem(anonymous.request(method, path, json=SPEC), 401)
            assert "Authorization: Bearer" in str(problem["detail"])
    assert rollouts(gw) == []


@pytest.mark.parametrize("token", [True, False], ids=["with-token", "without-token"])
@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "-".join(h.values()))
def test_a_cross_site_rollout_write_is_refused(
    gateway: Start, upstreams: dict[str, str], tmp_path: Path, token: bool, headers: dict[str, str]
) -> None:
    routes = tmp_path / "rollouts.toml"
    routes.write_text(ROUTES.format(**upstreams))
    gw = gateway(GATEWAY_ROUTES_FILE=str(routes), **({} if token else {"GATEWAY_ADMIN_TOKEN": ""}))
    assert start(gw).status_code == 201
    entries = audit_size(gw)
    assert_problem(
        gw.admin.post("/rollouts", json={**SPEC, "route": "products"}, headers=headers), 403
    )
    for verb in VERBS:
        call = gw.admin.post(f"/rollouts/orders/{verb}", json={"reason": "csrf"}, headers=headers)
        assert_problem(call, 403)
    assert audit_size(gw) == entries
    assert [(r["name"], r["status"]) for r in rollouts(gw)] == [("orders", "running")]


def test_a_rollout_write_whose_body_is_not_declared_json_is_refused(gw: GatewayProcess) -> None:
    headers = {"Content-Type": "text/plain"}
    assert_problem(gw.admin.post("/rollouts", json=SPEC, headers=headers), 415)
    assert rollouts(gw) == []


BAD_STARTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "unknown-field": ({"colour": "blue"}, 400, "unknown rollout setting(s) colour"),
    "route-and-group": ({"group": "shelf"}, 400, "exactly one of 'route' or 'group'"),
    "bad-gate": ({"gates": ["latency<1s"]}, 400, "must look like"),
    "no-gate": ({"gates": []}, 400, "gates"),
    "gate-not-text": ({"gates": [{"errors": 1}]}, 400, "must look like"),
    "steps-fall": ({"steps": [50, 5]}, 400, "must rise"),
    "steps-over-100": ({"steps": [5, 150]}, 400, "at most 100"),
    "steps-text": ({"steps": "five"}, 400, "weights such as"),
    "giant-step-list": ({"steps": [n / 100 for n in range(1, 10_001)]}, 400, "1 to 20 weights"),
    "giant-step-text": ({"steps": "1," * 1_000_000}, 400, "steps"),
    "huge-step": ({"steps": [10**400]}, 400, "steps"),
    "bad-interval": ({"interval": "soon"}, 400, "interval must be a duration"),
    "short-interval": ({"interval": "500ms"}, 400, "interval must be from 1 s"),
    "huge-interval": ({"interval": 10**400}, 400, "interval"),
    "huge-shadow": ({"shadow": 10**400, "gates": ["parity>=0.99"]}, 400, "shadow"),
    "bad-min-requests": ({"min_requests": "200"}, 400, "min_requests must be a whole number"),
    "boolean-failure-limit": ({"failure_limit": True}, 400, "failure_limit"),
    "reason-missing": ({"reason": None}, 400, "'reason' is required"),
    "reason-2-MB": ({"reason": "x" * 2_000_000}, 400, "'reason' is limited to 500"),
    "unknown-route": ({"route": "nope"}, 404, "no route named 'nope'"),
    "default": ({"route": "default"}, 404, "no route named 'default'"),
    "no-extracted-upstream": ({"route": "pages"}, 422, "no extracted upstream"),
    "unknown-group": ({"route": None, "group": "nope"}, 404, "no route group named 'nope'"),
    "not-a-name": ({"route": "Orders/../x"}, 400, "is not a name"),
    "check-not-a-url": ({"checks": ["ftp://x"]}, 400, "is not an http(s) URL"),
    "check-half-an-ipv6": ({"checks": ["http://[::1/"]}, 400, "is not an http(s) URL"),
    "too-many-checks": ({"checks": ["http://127.0.0.1/"] * 6}, 400, "at most 5"),
}


@pytest.mark.parametrize("case", BAD_STARTS, ids=list(BAD_STARTS))
def test_a_bad_rollout_is_a_4xx_that_says_what_is_wrong(gw: GatewayProcess, case: str) -> None:
    changes, status, says = BAD_STARTS[case]
    entries = audit_size(gw)
    problem = assert_problem(start(gw, **changes), status)
    assert says in str(problem["detail"]), problem["detail"]
    assert len(str(problem["detail"])) < 1000  # says what is wrong, not what it was sent
    assert rollouts(gw) == [] and audit_size(gw) == entries


def test_a_second_rollout_over_a_route_already_rolling_out_is_refused(gw: GatewayProcess) -> None:
    assert start(gw, route=None, group="shelf").status_code == 201
    problem = assert_problem(start(gw, route="stock"), 409)
    assert "rollout shelf (running) already moves stock" in str(problem["detail"])
    assert [r["name"] for r in rollouts(gw)] == ["shelf"]


def test_turning_a_rollout_the_wrong_way_is_a_4xx(gw: GatewayProcess) -> None:
    assert_problem(gw.admin.get("/rollouts/orders"), 404)
    problem = assert_problem(gw.admin.post("/rollouts/orders/pause", json={"reason": "r"}), 404)
    assert "no rollout named 'orders'" in str(problem["detail"])
    assert start(gw).status_code == 201
    for body, says in [
        ({"reason": "r", "force": "yes"}, "'force' is true or false"),
        ({"reason": "r", "force": 1}, "'force' is true or false"),
        ({"reason": "r", "colour": "blue"}, "unknown field(s) colour"),
        ({}, "'reason' is required"),
    ]:
        problem = assert_problem(gw.admin.post("/rollouts/orders/promote", json=body), 400)
        assert says in str(problem["detail"])
    assert_problem(
        gw.admin.post("/rollouts/orders/pause", json={"force": True, "reason": "r"}), 400
    )
    problem = assert_problem(gw.admin.post("/rollouts/orders/resume", json={"reason": "r"}), 409)
    assert "orders is running: it cannot resume" in str(problem["detail"])
    assert gw.admin.post("/rollouts/orders/abort", json={"reason": "enough"}).status_code == 200
    for verb in VERBS:
        problem = assert_problem(
            gw.admin.post(f"/rollouts/orders/{verb}", json={"reason": "r"}), 409
        )
        assert f"orders is aborted: it cannot {verb}" in str(problem["detail"])
    assert [r["status"] for r in rollouts(gw)] == ["aborted"]


@pytest.mark.parametrize(
    "body",
    [b"[" * 50_000, b'{"route": "orders", "gates": ' + b"[" * 40 + b"]" * 40 + b"}", b"[1]", b"{"],
    ids=["50000-brackets", "nested-gates", "not-an-object", "not-json"],
)
def test_a_body_that_is_not_a_shallow_json_object_is_a_bad_request(
    gw: GatewayProcess, body: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    for path in ("/rollouts", "/rollouts/orders/abort"):
        assert_problem(gw.admin.post(path, content=body, headers=headers), 400)


@pytest.mark.parametrize(
    ("gate", "says"),
    [
        ("p99<=" + "9" * 400 + "ms", "must look like"),
        ("p99<=120s", "latency bound is at most 30 s"),
    ],
    ids=["infinite", "beyond-the-figures"],
)
def test_a_latency_gate_that_could_never_fail_is_refused_and_the_list_stays_readable(
    gw: GatewayProcess, gate: str, says: str
) -> None:
    """`p99<=` and 400 nines read as infinity: a gate that cannot fail, and a rollout that
    JSON cannot show (every later GET /rollouts answered 500). The latency figures end at
    30 s: a bound above it cannot fail either."""
    problem = assert_problem(start(gw, gates=[gate]), 400)
    assert says in str(problem["detail"])
    assert rollouts(gw) == []


@pytest.mark.parametrize(
    "setting", ["interval", "gates", "steps"], ids=["interval", "gate", "steps"]
)
def test_a_long_padded_setting_is_refused_at_once(gw: GatewayProcess, setting: str) -> None:
    """A duration or gate padded with 100,000 spaces took the regular expressions half a
    minute (quadratic), the whole gateway's event loop with them."""
    padded = "1" + " " * 100_000 + "x"
    value: Any = {"interval": padded, "gates": ["errors<=" + padded], "steps": padded}[setting]
    started = time.monotonic()
    assert_problem(start(gw, **{setting: value}), 400)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",  # the same address as one decimal number
        "http://0xa9fea9fe/latest/meta-data/",
        "http://169.254.43518/latest/meta-data/",
        "http://0251.0376.0251.0376/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://0/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://x.example/" + "a" * 5_000,
    ],
    ids=lambda url: url[:40],
)
def test_a_check_at_a_link_local_or_unspecified_address_is_refused(
    gw: GatewayProcess, url: str
) -> None:
    problem = assert_problem(start(gw, checks=[url]), 400)
    assert "check" in str(problem["detail"]) and len(str(problem["detail"])) < 1000
    assert rollouts(gw) == []


def test_the_openapi_document_lists_every_rollout_call(gw: GatewayProcess) -> None:
    paths = httpx.get(f"{gw.admin_url}/openapi.json").json()["paths"]
    assert set(paths["/rollouts"]) == {"get", "post"}
    assert set(paths["/rollouts/{name}"]) == {"get"}
    assert {"400", "404", "409"} <= {str(s) for s in paths["/rollouts"]["post"]["responses"]}
    for verb in VERBS:
        responses = paths[f"/rollouts/{{name}}/{verb}"]["post"]["responses"]
        assert {"404", "409"} <= {str(s) for s in responses}, verb
