"""The gateway's admin listener under malformed, oversized and cross-site requests: a 4xx
problem saying what is wrong, nothing written to the table or the audit log, never a 500."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.integration.gateways import GatewayProcess
from tests.security.wire import exchange

pytestmark = pytest.mark.e2e

Start = Callable[..., GatewayProcess]
PROBLEM = "urn:strangler-kit:problem:"


def audit_size(gw: GatewayProcess) -> int:
    return len(gw.admin.get("/audit", params={"limit": 10_000}).json()["entries"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = response.json()
    assert str(problem["type"]).startswith(PROBLEM)
    return problem


@pytest.mark.parametrize("setting", ["fallback", "dry_run"])
def test_the_string_false_is_not_a_boolean(gateway: Start, setting: str) -> None:
    gw = gateway()
    before = gw.admin.get("/routes/orders").json()[setting]
    assert_problem(gw.set("orders", **{setting: "false"}), 422)
    assert gw.admin.get("/routes/orders").json()[setting] == before


@pytest.mark.parametrize(
    "reason",
    ["x" * 501, "x" * 2_000_000, "ramp\nFORGED line", "tab\there", "bell\x07", "one\u2028two"],
    ids=["501-chars", "2-MB", "two-lines", "tab", "control", "line-separator"],
)
def test_a_change_reason_is_one_printable_line_of_at_most_500_characters(
    gateway: Start, reason: str
) -> None:
    gw = gateway()
    entries = audit_size(gw)
    response = gw.admin.patch("/routes/orders", json={"weight": 5, "reason": reason})
    assert_problem(response, 400)
    assert_problem(gw.admin.post("/kill", json={"reason": reason}), 400)
    assert audit_size(gw) == entries
    assert gw.admin.patch("/routes/orders", json={"weight": 5, "reason": "y" * 500}).is_success


@pytest.mark.parametrize(
    "body",
    [b"[" * 50_000, b'{"reason": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"],
    ids=["50000-brackets", "nested-reason"],
)
def test_deeply_nested_json_is_a_bad_request(gateway: Start, body: bytes) -> None:
    gw = gateway()
    for method, path in [("POST", "/kill"), ("PATCH", "/routes/orders"), ("POST", "/compare")]:
        response = gw.admin.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400)


@pytest.mark.parametrize(
    "document",
    [
        '{"reason": "\\ud800"}',
        '{"weight": 5, "reason": "ok", "\\udfff": 1}',
        '{"weight": 5, "reason": "ok \\ud83d"}',
    ],
    ids=["reason", "key", "half-a-pair"],
)
def test_a_lone_surrogate_in_an_admin_body_is_a_bad_request(gateway: Start, document: str) -> None:
    gw = gateway()
    entries = audit_size(gw)
    for method, path in [("POST", "/kill"), ("PATCH", "/routes/orders")]:
        response = gw.admin.request(
            method, path, content=document, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400)
    assert audit_size(gw) == entries


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_change_whose_body_is_not_declared_json_is_refused(
    gateway: Start, content_type: str | None
) -> None:
    gw = gateway()
    entries = audit_size(gw)
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"reason": "from a form"})
    assert_problem(gw.admin.post("/kill", content=body, headers=headers), 415)
    assert_problem(gw.admin.patch("/routes/orders", content=body, headers=headers), 415)
    assert audit_size(gw) == entries
    assert gw.admin.get("/routes/orders").json()["mode"] == "legacy"


CROSS_SITE = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
]


@pytest.mark.parametrize("token", [True, False], ids=["with-token", "without-token"])
@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "-".join(h.values()))
def test_a_cross_site_change_is_refused_with_or_without_a_token(
    gateway: Start, token: bool, headers: dict[str, str]
) -> None:
    gw = gateway(**({} if token else {"GATEWAY_ADMIN_TOKEN": ""}))
    entries = audit_size(gw)
    for call in [
        lambda: gw.admin.post("/kill", json={"reason": "csrf"}, headers=headers),
        lambda: gw.admin.post("/rollback", json={"version": 1, "reason": "csrf"}, headers=headers),
        lambda: gw.admin.patch(
            "/routes/orders", json={"mode": "extracted", "reason": "csrf"}, headers=headers
        ),
    ]:
        assert_problem(call(), 403)
    assert audit_size(gw) == entries


def test_a_same_origin_change_is_served(gateway: Start) -> None:
    gw = gateway()
    origin = gw.admin_url  # http://127.0.0.1:PORT, the Host the client sends
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    response = gw.admin.patch("/routes/orders", json={"weight": 5, "reason": "ui"}, headers=headers)
    assert response.status_code == 200, response.text


def test_without_a_token_a_cross_site_text_plain_kill_is_refused(gateway: Start) -> None:
    """What a hostile page can make a browser send without a preflight."""
    gw = gateway(GATEWAY_ADMIN_TOKEN="")
    answer = exchange(
        gw.admin_url,
        b"POST /kill HTTP/1.1\r\nHost: " + gw.admin_url.removeprefix("http://").encode() + b"\r\n"
        b"Origin: http://evil.example\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n"
        b'Connection: close\r\n\r\n{"reason": "pwn"}',
    )
    assert answer.status == 403
    assert all(r["mode"] == "legacy" for r in gw.admin.get("/routes").json()["routes"])


@pytest.mark.parametrize(
    "token", [" " * 16, " " * 40, "a" * 32, "short-token", "  padded-short  " + " " * 8]
)
@pytest.mark.parametrize("variable", ["GATEWAY_ADMIN_TOKEN", "GATEWAY_ADMIN_TOKENS"])
def test_a_weak_admin_token_is_refused_at_startup(variable: str, token: str) -> None:
    value = token if variable == "GATEWAY_ADMIN_TOKEN" else f"alice:{token}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    started = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env={**env, variable: value, "GATEWAY_PORT": "1", "GATEWAY_ADMIN_PORT": "1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert started.returncode == 2, started.stderr
    assert f"{variable} " in started.stderr or f"{variable} (" in started.stderr
    assert "not a number" not in started.stderr and "Traceback" not in started.stderr
    assert token not in started.stderr or not token.strip()  # the secret is not echoed


def compare(gw: GatewayProcess, headers: object) -> httpx.Response:
    return gw.admin.post(
        "/compare", json={"method": "GET", "path": "/orders/7", "headers": headers}
    )


@pytest.mark.parametrize(
    "headers",
    [
        ["Accept", "text/plain"],
        "Accept: text/plain",
        {"Accept": 1},
        {"Accept": ["a", "b"]},
        {"Accept": None},
        {"Bad Name": "x"},
        {"X-Split": "a\r\nX-Injected: 1"},
        {"": "x"},
    ],
    ids=["list", "string", "number", "list-value", "null", "space-in-name", "crlf", "empty"],
)
def test_compare_refuses_headers_that_are_not_an_object_of_strings(
    gateway: Start, headers: object
) -> None:
    gw = gateway()
    problem = assert_problem(compare(gw, headers), 400)
    assert "headers" in str(problem["detail"])


def test_compare_never_forwards_host_hop_by_hop_or_internal_headers(gateway: Start) -> None:
    gw = gateway()
    response = compare(
        gw,
        {
            "Host": "evil.example",
            "Connection": "X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "5",
            "Content-Length": "999",
            "X-Strangler-Token": "forged",
            "X-Strangler-Shadow": "dry-run",
            "X-Strangler-Placeholders": "$.id",
            "X-Strangler-Anything": "1",
            "X-Request-ID": "forged-id",
            "Accept-Language": "fr",
        },
    )
    assert response.status_code == 200, response.text
    for side in ("legacy", "extracted"):
        seen = response.json()[side]["body"]["headers"]
        assert seen["host"].startswith("127.0.0.1:"), seen
        assert seen["accept-language"] == "fr"  # an ordinary header does pass
        assert not [n for n in seen if n.startswith("x-strangler-")], seen
        assert "x-secret-hop" not in seen and "keep-alive" not in seen
        assert seen.get("content-length") in (None, "0")
        assert seen["x-request-id"] != "forged-id"
