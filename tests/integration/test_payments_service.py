"""The payments service as a real process, in front of the real provider stand-in, on a
migrated database: Idempotency-Key semantics, no double charge, problems, pages, ETags."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from migrations import history
from new_services.payments.model import payment_id_for
from strangler.runner import running
from tests.conftest import free_port_base
from tests.integration.migrating import engine_at
from tests.integration.processes import uvicorn_part
from tests.support import dry_runs

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Services:
    payments: httpx.Client
    provider: httpx.Client


@pytest.fixture
def services(fresh_database_url: str, tmp_path: Path) -> Iterator[Services]:
    with started(fresh_database_url, tmp_path) as both:
        yield both


@pytest.fixture
def settling(fresh_database_url: str, tmp_path: Path) -> Iterator[Services]:
    """Payments that settle what stays pending 7.5 s untouched (the shortest the key lease
    allows with a 0.5 s provider timeout), checked every 0.25 s, and ask again about a
    payment voided without a charge every second."""
    env = {
        "PAYMENTS_IDEMPOTENCY_LEASE_S": "7.5",
        "PAYMENTS_SETTLE_AFTER_S": "7.5",
        "PAYMENTS_CHECK_UNSETTLED_EVERY_S": "0.25",
        "PAYMENTS_UNSETTLED_AFTER_S": "60",
        "PAYMENTS_RECHECK_VOIDED_EVERY_S": "1",  # and asks about what it voided every second
        "PAYMENTS_RECHECK_VOIDED_FOR_S": "600",
    }
    with started(fresh_database_url, tmp_path, env) as both:
        yield both


@contextmanager
def started(
    database_url: str, tmp_path: Path, env: dict[str, str] | None = None
) -> Iterator[Services]:
    with engine_at(database_url) as engine:
        history.upgrade(engine, "expand")
    base = free_port_base()
    provider = uvicorn_part(
        "provider",
        "stand_ins.payments.app:create_app",
        base + 2,
        {"PAYMENTS_DB_PATH": str(tmp_path / "provider.db")},
    )
    payments = uvicorn_part(
        "payments-service",
        "new_services.payments.app:create_app",
        base + 8,
        {
            "DATABASE_URL": database_url,
            "PAYMENTS_PROVIDER_URL": provider.url,
            "PAYMENTS_PROVIDER_TIMEOUT_S": "0.5",
            "PAYMENTS_UNSETTLED_AFTER_S": "1",
            "PAYMENTS_CHECK_UNSETTLED_EVERY_S": "0.2",
            "PAYMENTS_SETTLE_AFTER_S": "0",  # these tests retry by hand, however late
            "STRANGLER_DRY_RUN_KEY": dry_runs.KEY,
            **(env or {}),
        },
    )
    with ExitStack() as stack:
        stack.enter_context(running(provider, tmp_path))
        stack.enter_context(running(payments, tmp_path))
        yield Services(
            stack.enter_context(
                httpx.Client(base_url=payments.url, timeout=10, auth=dry_runs.SignDryRuns())
            ),
            stack.enter_context(httpx.Client(base_url=provider.url, timeout=10)),
        )


def charge(
    services: Services, key: str, token: str, order: str | None = None, amount: int = 1500
) -> httpx.Response:
    body = {
        "order_ref": order or f"order-{uuid.uuid4().hex[:8]}",
        "amount_cents": amount,
        "card_token": token,
    }
    return services.payments.post("/v2/payments", json=body, headers={"Idempotency-Key": key})


def token() -> str:
    return f"tok_visa_{uuid.uuid4().hex[:10]}"


def metric(services: Services, name: str, labels: dict[str, str]) -> float:
    """A sample of the service's /metrics; 0 when it has none (a counter not counted yet)."""
    for family in text_string_to_metric_families(services.payments.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def unsettled_payments(services: Services) -> float:
    return metric(services, "payments_unsettled", {"kind": "payment"})


def charge_with_faults(
    services: Services, faults: dict[str, float], key: str, card: str, order: str, amount: int
) -> httpx.Response:
    """A charge while the provider misbehaves as `faults` say (its PUT /_admin/config); the
    provider is well again when it returns."""
    services.provider.put("/_admin/config", json=faults).raise_for_status()
    try:
        return charge(services, key, card, order=order, amount=amount)
    finally:
        well = {"latency_ms": 0, "failure_rate": 0.0}
        services.provider.put("/_admin/config", json=well).raise_for_status()


def charges_at_the_provider(services: Services, card_token: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = services.provider.get(
        "/v1/charges", params={"card_token": card_token}
    ).json()["charges"]
    return found


def test_a_retry_with_the_same_key_replays_the_answer_and_charges_once(
    services: Services,
) -> None:
    card = token()
    first = charge(services, "key-1", card, order="order-1")
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/v2/payments/{first.json()['id']}"
    again = charge(services, "key-1", card, order="order-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert len(charges_at_the_provider(services, card)) == 1


def test_a_timeout_at_the_provider_then_a_retry_with_the_same_key_charges_once(
    services: Services,
) -> None:
    card = token()
    slow = {"latency_ms": 1200}
    timed_out = charge_with_faults(services, slow, "key-slow", card, "order-slow", 1500)
    assert timed_out.status_code == 502
    assert timed_out.json()["type"] == "urn:strangler-kit:problem:provider-unavailable"
    other_key = charge(services, "key-other", card, order="order-slow")  # a client that gave up
    assert other_key.status_code == 409
    assert other_key.json()["type"] == "urn:strangler-kit:problem:order-being-paid"
    changed = charge(services, "key-slow", card, order="order-slow", amount=5000)
    assert changed.status_code == 422  # the key names the pending 1500 payment, not this one
    time.sleep(1.5)  # the provider finishes (and records) the first charge meanwhile
    # pending past PAYMENTS_UNSETTLED_AFTER_S: the provider may hold money nothing here records
    assert unsettled_payments(services) == 1
    retried = charge(services, "key-slow", card, order="order-slow")
    assert retried.status_code == 201, retried.text
    time.sleep(0.5)
    assert unsettled_payments(services) == 0
    assert retried.json()["status"] == "captured"
    assert len(charges_at_the_provider(services, card)) == 1  # legacy would have charged twice
    settled = charge(services, "key-other", card, order="order-slow")  # "being paid" passed:
    assert settled.json()["type"] == "urn:strangler-kit:problem:order-already-paid"
    assert "idempotent-replayed" not in settled.headers  # it was not stored


def test_a_refund_that_timed_out_is_finished_by_a_retry_with_the_same_key(
    services: Services,
) -> None:
    payment = charge(services, "key-rt", token(), amount=1000).json()
    refunds = f"/v2/payments/{payment['id']}/refunds"
    services.provider.put("/_admin/config", json={"latency_ms": 1200}).raise_for_status()
    timed_out = services.payments.post(refunds, json={}, headers={"Idempotency-Key": "r-slow"})
    # under way, not failed: the provider may have refunded; a retry with the key finishes it
    assert timed_out.status_code == 202, timed_out.text
    assert timed_out.json()["status"] == "pending" and timed_out.json()["amount_cents"] == 1000
    services.provider.put("/_admin/config", json={"latency_ms": 0}).raise_for_status()
    time.sleep(1.5)  # the provider finishes the first refund meanwhile
    retried = services.payments.post(refunds, json={}, headers={"Idempotency-Key": "r-slow"})
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "succeeded" and retried.json()["amount_cents"] == 1000
    at_provider = services.provider.get(
        "/v1/refunds", params={"charge_id": payment["provider_charge_id"]}
    ).json()["refunds"]
    assert [r["amount_cents"] for r in at_provider] == [1000]


def test_a_refund_the_provider_says_it_did_not_make_is_not_kept_and_a_retry_starts_afresh(
    services: Services,
) -> None:
    """A 503 from the provider means it did nothing: the refund is not left pending (the
    settler would otherwise make it minutes later, after the caller heard it failed)."""
    payment = charge(services, "key-rr", token(), amount=800).json()
    refunds = f"/v2/payments/{payment['id']}/refunds"
    services.provider.put("/_admin/config", json={"failure_rate": 1.0}).raise_for_status()
    refused = services.payments.post(refunds, json={}, headers={"Idempotency-Key": "r-refused"})
    services.provider.put("/_admin/config", json={"failure_rate": 0}).raise_for_status()
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"] == "urn:strangler-kit:problem:provider-refused"
    assert services.payments.get(f"/v2/payments/{payment['id']}").json()["refunded_cents"] == 0
    retried = services.payments.post(refunds, json={}, headers={"Idempotency-Key": "r-refused"})
    assert retried.status_code == 201, retried.text
    assert retried.json()["amount_cents"] == 800


def test_a_payment_whose_order_never_came_is_voided_and_refunded_once(
    services: Services,
) -> None:
    """The orders service's settler (orders/orphans.py) lists captured payments and gives
    up one whose order it decided never to place: voided, refunded in full, once."""
    card = token()
    paid = charge(services, "key-orphan", card, amount=1200).json()
    listed = services.payments.get("/v2/payments", params={"status": "captured"}).json()
    assert paid["id"] in [p["id"] for p in listed["payments"]]
    assert {p["status"] for p in listed["payments"]} == {"captured"}
    for _ in range(2):  # asked again (a round that did not finish): the same, nothing more
        given = services.payments.post(f"/v2/payments/{paid['id']}/abandonment")
        assert given.status_code == 200, given.text
        assert (given.json()["status"], given.json()["refunded_cents"]) == ("voided", 1200)
    at_provider = services.provider.get(
        "/v1/refunds", params={"charge_id": paid["provider_charge_id"]}
    ).json()["refunds"]
    assert [r["amount_cents"] for r in at_provider] == [1200]
    listed = services.payments.get("/v2/payments", params={"status": "captured"}).json()
    assert paid["id"] not in [p["id"] for p in listed["payments"]]
    wrong = services.payments.get("/v2/payments", params={"status": "lost"})
    assert wrong.status_code == 400 and "status must be one of" in wrong.json()["detail"]


def test_two_keys_racing_for_one_order_charge_it_once(services: Services) -> None:
    services.provider.put("/_admin/config", json={"latency_ms": 300}).raise_for_status()
    card = token()
    answers: list[httpx.Response] = []

    def send(key: str) -> None:
        answers.append(charge(services, key, card, order="order-contested"))

    threads = [threading.Thread(target=send, args=(f"key-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert len(charges_at_the_provider(services, card)) == 1


def test_the_key_with_another_body_is_422_and_a_missing_key_is_400(services: Services) -> None:
    assert charge(services, "key-2", token(), order="order-2").status_code == 201
    reused = charge(services, "key-2", token(), order="order-2")
    assert reused.status_code == 422 and reused.headers["content-type"] == PROBLEM
    assert reused.json()["type"] == "urn:strangler-kit:problem:idempotency-key-reused"
    no_key = services.payments.post("/v2/payments", json={"order_ref": "o"})
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()["detail"]


def test_a_request_whose_key_is_still_in_flight_gets_409(services: Services) -> None:
    services.provider.put("/_admin/config", json={"latency_ms": 300}).raise_for_status()
    card = token()
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(charge(services, "key-race", card, order="order-race"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 409]
    busy = next(a for a in answers if a.status_code == 409)
    assert busy.json()["type"] == "urn:strangler-kit:problem:idempotency-key-in-use"
    assert len(charges_at_the_provider(services, card)) == 1


def test_an_order_is_paid_once_whatever_the_keys(services: Services) -> None:
    card = token()
    paid = charge(services, "key-a", card, order="order-once")
    again = charge(services, "key-b", card, order="order-once")
    assert again.status_code == 409
    assert again.json()["type"] == "urn:strangler-kit:problem:order-already-paid"
    assert again.json()["payment_id"] == paid.json()["id"]
    assert len(charges_at_the_provider(services, card)) == 1


def test_a_declined_card_is_402_and_records_nothing(services: Services) -> None:
    declined = charge(services, "key-d", "tok_declined_1", order="order-d")
    assert declined.status_code == 402
    assert declined.json()["type"] == "urn:strangler-kit:problem:card-declined"
    assert services.payments.get("/v2/payments").json()["payments"] == []


def test_a_dry_run_answers_like_a_charge_and_leaves_no_trace(services: Services) -> None:
    card = token()
    answer = services.payments.post(
        "/v2/payments",
        json={"order_ref": "order-dry", "amount_cents": 900, "card_token": card},
        headers={"Idempotency-Key": "key-dry", "X-Strangler-Shadow": "dry-run"},
    )
    assert answer.status_code == 201 and answer.headers["x-strangler-dry-run"] == "true"
    assert answer.json()["amount_cents"] == 900 and answer.json()["provider_charge_id"] is None
    assert charges_at_the_provider(services, card) == []
    assert services.payments.get("/v2/payments").json()["payments"] == []
    real = charge(services, "key-dry", card, order="order-dry", amount=900)
    assert real.status_code == 201 and "idempotent-replayed" not in real.headers  # no key kept


def every_page(services: Services, query: str) -> list[str]:
    """The ids of every payment, following `next` from the first page of `query`."""
    seen: list[str] = []
    cursor: str | None = ""
    while cursor is not None:
        page = services.payments.get(f"/v2/payments?{query}{cursor}").json()
        assert len(page["payments"]) <= 2
        seen += [p["id"] for p in page["payments"]]
        cursor = f"&cursor={page['next']}" if page["next"] else None
    return seen


def test_pages_follow_the_cursor_newest_first_and_a_payment_has_an_etag(
    services: Services,
) -> None:
    made = [charge(services, f"key-p{n}", token()).json()["id"] for n in range(5)]
    assert every_page(services, "limit=2") == list(reversed(made))
    one = services.payments.get(f"/v2/payments/{made[0]}")
    unchanged = services.payments.get(
        f"/v2/payments/{made[0]}", headers={"If-None-Match": one.headers["etag"]}
    )
    assert unchanged.status_code == 304
    bad = services.payments.get("/v2/payments?limit=101")
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM


def test_payments_sorted_oldest_first_page_the_other_way_and_a_cursor_keeps_its_sort(
    services: Services,
) -> None:
    made = [charge(services, f"key-s{n}", token()).json()["id"] for n in range(5)]
    assert every_page(services, "limit=2&sort=created_at") == made
    first = services.payments.get("/v2/payments?limit=1&sort=created_at").json()
    mixed = services.payments.get(f"/v2/payments?cursor={first['next']}")
    assert mixed.status_code == 400 and mixed.headers["content-type"] == PROBLEM
    assert "sort=created_at" in mixed.json()["detail"]


def test_refunds_go_to_the_provider_and_stop_at_the_amount(services: Services) -> None:
    card = token()
    payment = charge(services, "key-r", card, amount=1000).json()
    refunds = f"/v2/payments/{payment['id']}/refunds"
    part = services.payments.post(
        refunds, json={"amount_cents": 400}, headers={"Idempotency-Key": "r-1"}
    )
    assert part.status_code == 201, part.text
    assert part.json()["payment"]["status"] == "partially_refunded"
    too_much = services.payments.post(
        refunds, json={"amount_cents": 601}, headers={"Idempotency-Key": "r-2"}
    )
    assert too_much.status_code == 409 and too_much.json()["refundable_cents"] == 600
    dry = services.payments.post(
        refunds, json={}, headers={"Idempotency-Key": "r-dry", "X-Strangler-Shadow": "dry-run"}
    )
    assert dry.status_code == 201 and dry.json()["amount_cents"] == 600
    rest = services.payments.post(refunds, json={}, headers={"Idempotency-Key": "r-3"})
    assert rest.json()["payment"]["status"] == "refunded"
    at_provider = services.provider.get(
        "/v1/refunds", params={"charge_id": payment["provider_charge_id"]}
    ).json()["refunds"]
    assert sorted(r["amount_cents"] for r in at_provider) == [400, 600]


def test_a_charge_the_legacy_shop_made_is_adopted_once_and_refunded_here(
    services: Services,
) -> None:
    card = token()
    made = services.provider.post(  # what legacy does: straight to the provider, no key
        "/v1/charges", json={"amount_cents": 2500, "currency": "usd", "card_token": card}
    )
    assert made.status_code == 201, made.text
    charge_id = made.json()["id"]
    services.provider.post("/v1/refunds", json={"charge_id": charge_id, "amount_cents": 500})
    adopt = f"/v2/adopted-charges/{charge_id}"
    adopted = services.payments.put(adopt, json={"order_ref": "legacy-order-7"})
    assert adopted.status_code == 200, adopted.text
    payment = adopted.json()
    assert (payment["amount_cents"], payment["refunded_cents"]) == (2500, 500)  # the provider's
    assert payment["status"] == "partially_refunded"
    assert payment["provider_charge_id"] == charge_id
    assert services.payments.put(adopt, json={"order_ref": "legacy-order-7"}).json() == payment
    refunds = f"/v2/payments/{payment['id']}/refunds"
    rest = services.payments.post(refunds, json={}, headers={"Idempotency-Key": "cancel-7"})
    assert rest.status_code == 201 and rest.json()["amount_cents"] == 2000
    at_provider = services.provider.get("/v1/charges/" + charge_id).json()
    assert (at_provider["refunded_cents"], at_provider["status"]) == (2500, "refunded")

    other_order = services.payments.put(adopt, json={"order_ref": "legacy-order-8"})
    assert other_order.status_code == 409
    assert other_order.json()["payment_id"] == payment["id"]
    unknown = services.payments.put("/v2/adopted-charges/ch_nope", json={"order_ref": "o-9"})
    assert unknown.status_code == 409 and unknown.headers["content-type"] == PROBLEM
    assert "has no charge ch_nope" in unknown.json()["detail"]
    bad = services.payments.put(adopt, json={"order_ref": "legacy 7", "amount_cents": 1})
    assert bad.status_code == 400 and "unknown field(s): amount_cents" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status", "slug"),
    [
        ("GET", "/v2/payments/not-a-uuid", 404, "payment-not-found"),
        ("GET", f"/v2/payments/{uuid.uuid4()}", 404, "payment-not-found"),
        ("GET", "/v2/nothing-here", 404, "not-found"),
        ("DELETE", "/v2/payments", 405, "method-not-allowed"),
        ("GET", "/v2/payments?cursor=%%%", 400, "invalid-request"),
    ],
)
def test_every_error_is_a_problem_with_a_stable_type(
    services: Services, method: str, path: str, status: int, slug: str
) -> None:
    answer = services.payments.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == f"urn:strangler-kit:problem:{slug}"
    assert answer.json()["status"] == status


def test_concurrent_refunds_never_give_back_more_than_was_paid(services: Services) -> None:
    services.provider.put("/_admin/config", json={"latency_ms": 200}).raise_for_status()
    payment = charge(services, "key-cr", token(), amount=1000).json()
    answers: list[httpx.Response] = []

    def refund_all(key: str) -> None:
        answers.append(
            services.payments.post(
                f"/v2/payments/{payment['id']}/refunds", json={}, headers={"Idempotency-Key": key}
            )
        )

    threads = [threading.Thread(target=refund_all, args=(f"r-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 409, 409]
    at_provider = services.provider.get(
        "/v1/refunds", params={"charge_id": payment["provider_charge_id"]}
    ).json()["refunds"]
    assert sum(r["amount_cents"] for r in at_provider) == 1000


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/v2/payments", b"not json", "JSON object"),
        ("/v2/payments", b"[1, 2]", "JSON object"),
        ("/v2/payments", b'{"order_ref": "o", "amount_cents": "9", "card_token": "t"}', "amount"),
        ("/v2/payments", b"x" * 70_000, "limited to"),
    ],
)
def test_bad_bodies_are_problems_and_a_corrected_retry_with_the_key_runs(
    services: Services, path: str, body: bytes, detail: str
) -> None:
    key = f"key-bad-{uuid.uuid4().hex[:6]}"
    headers = {"Idempotency-Key": key, "content-type": "application/json"}
    bad = services.payments.post(path, content=body, headers=headers)
    assert bad.status_code in (400, 413) and bad.headers["content-type"] == PROBLEM
    assert detail in bad.json()["detail"]
    fixed = charge(services, key, token())  # nothing happened, so the key is still free
    assert fixed.status_code == 201, fixed.text


@pytest.mark.parametrize(
    "query",
    ["limit=%C2%B2", "limit=0", "cursor=eyJhdCI6MSwiaWQiOjJ9", "cursor=bm90IGpzb24"],
)
def test_bad_page_requests_are_400_problems(services: Services, query: str) -> None:
    answer = services.payments.get(f"/v2/payments?{query}")
    assert answer.status_code == 400 and answer.headers["content-type"] == PROBLEM


def test_a_wrong_method_says_which_ones_are_allowed(services: Services) -> None:
    answer = services.payments.delete("/v2/payments")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def settled_payment(services: Services, payment_id: str, within_s: float = 20) -> dict[str, object]:
    """The payment once the settler has closed it."""
    deadline = time.monotonic() + within_s
    while True:
        payment: dict[str, object] = services.payments.get(f"/v2/payments/{payment_id}").json()
        if payment["status"] != "pending":
            return payment
        assert time.monotonic() < deadline, f"still pending after {within_s} s"
        time.sleep(0.25)


def settled_count(services: Services, outcome: str) -> float:
    return metric(services, "payments_settled_total", {"outcome": outcome})


def test_a_charge_whose_answer_was_lost_and_never_retried_is_given_back_by_the_settler(
    settling: Services,
) -> None:
    card = token()
    slow = {"latency_ms": 1200}
    lost = charge_with_faults(settling, slow, "key-lost", card, "order-lost", 4200)
    assert lost.status_code == 502  # the provider charges; its answer comes too late
    payment_id = str(payment_id_for("key-lost"))
    assert settling.payments.get(f"/v2/payments/{payment_id}").json()["status"] == "pending"

    payment = settled_payment(settling, payment_id)
    (made,) = charges_at_the_provider(settling, card)
    assert made["reference"] == payment_id  # how the settler found it
    assert (payment["status"], payment["provider_charge_id"]) == ("voided", made["id"])
    assert payment["refunded_cents"] == 4200
    refunds = settling.provider.get("/v1/refunds", params={"charge_id": str(made["id"])}).json()
    assert [r["amount_cents"] for r in refunds["refunds"]] == [4200]  # the money went back
    assert settled_count(settling, "refunded") == 1

    late = charge(settling, "key-lost", card, order="order-lost", amount=4200)
    assert (late.status_code, late.headers["content-type"]) == (409, PROBLEM)
    assert late.json()["type"] == "urn:strangler-kit:problem:payment-voided"
    assert len(charges_at_the_provider(settling, card)) == 1  # the late retry charged nothing


def test_a_payment_the_provider_never_charged_is_voided_and_its_late_charge_given_back(
    settling: Services,
) -> None:
    card = token()
    down = {"failure_rate": 1.0}
    failed = charge_with_faults(settling, down, "key-down", card, "order-down", 1500)
    assert failed.status_code == 502

    payment_id = str(payment_id_for("key-down"))
    payment = settled_payment(settling, payment_id)
    assert (payment["status"], payment["provider_charge_id"]) == ("voided", None)
    assert charges_at_the_provider(settling, card) == []
    assert settled_count(settling, "voided") == 1
    paid = charge(settling, "key-new", card, order="order-down-again")
    assert paid.status_code == 201, paid.text

    # The provider charges it after all (its own late retry): the recheck gives it back.
    late = {"amount_cents": 1500, "currency": "usd", "card_token": card, "reference": payment_id}
    made = settling.provider.post("/v1/charges", json=late, headers={"Idempotency-Key": "late"})
    assert made.status_code == 201, made.text
    deadline = time.monotonic() + 10
    while settled_count(settling, "late-charge") < 1:
        assert time.monotonic() < deadline, "the late charge was not found"
        time.sleep(0.25)
    payment = settling.payments.get(f"/v2/payments/{payment_id}").json()
    assert (payment["status"], payment["provider_charge_id"]) == ("voided", made.json()["id"])
    assert payment["refunded_cents"] == 1500
    refunds = settling.provider.get("/v1/refunds", params={"charge_id": made.json()["id"]})
    assert [r["amount_cents"] for r in refunds.json()["refunds"]] == [1500]
