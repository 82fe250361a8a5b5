"""The users service in-process (its ASGI app over httpx), on a migrated database: v1
answers as the legacy app does on the same database, v2 pages, filters, ETags and keys, dry
runs, UUIDs for rows the backfill has not reached, and the client other domains use."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from migrations import history
from new_services.users import client as users_client
from new_services.users.app import create_app
from new_services.users.settings import UsersSettings
from new_services.users.tables import users
from tests.integration.migrating import engine_at
from tests.support import dry_runs

pytestmark = pytest.mark.anyio
PROBLEM = "urn:strangler-kit:problem:"
MISSING_ID = 2_000_000_000
DRY_RUN = {"X-Strangler-Shadow": "dry-run"}
Json = dict[str, Any]


@pytest.fixture
def database(fresh_database_url: str) -> str:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    return fresh_database_url


@pytest.fixture
async def service(database: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, as uvicorn would, behind an in-process client."""
    app = create_app(UsersSettings(database_url=database, dry_run_key=dry_runs.KEY))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://users.test",
            auth=dry_runs.SignDryRuns(),
        ) as client,
    ):
        yield client


@pytest.fixture
def legacy(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The legacy shop's Flask test client, on the same database."""
    monkeypatch.setenv("DATABASE_URL", database)
    from legacy_app import app as shop

    flask_app = shop.create_app()
    try:
        yield flask_app.test_client()
    finally:
        shop.ENGINE.dispose()


def email() -> str:
    return f"u-{uuid.uuid4().hex}@example.com"


async def make(service: httpx.AsyncClient, name: str = "Ada") -> Json:
    response = await service.post("/users", json={"email": email(), "name": name})
    assert response.status_code == 201, response.text
    user: Json = response.json()
    return user


def count_users(database: str) -> int:
    with engine_at(database) as engine, engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


# ---------------------------------------------------------------- v1 against legacy

# (method, path, body): {id} is a user of the side's own, EMAIL a fresh address, TAKEN the
# side's user's address in capitals; a bytes body is sent as it is (declared JSON), a str
# body as text/plain.
V1_CASES = [
    ("GET", "/users/{id}", None),
    ("GET", f"/users/{MISSING_ID}", None),
    ("GET", f"/users/{2**64}", None),
    ("POST", "/users", {"email": "EMAIL", "name": "Grace Hopper"}),
    ("POST", "/users", {"email": "EMAIL", "name": "n" * 200, "colour": "red"}),
    ("POST", "/users", {"email": "TAKEN", "name": "Someone Else"}),
    ("POST", "/users", {"email": "  spaced@example.com", "name": "x"}),
    ("POST", "/users", {"email": "no-at-sign.example.com", "name": "x"}),
    ("POST", "/users", {"email": "nobody@localhost", "name": "x"}),
    ("POST", "/users", {"email": "two@@example.com", "name": "x"}),
    ("POST", "/users", {"email": "a" * 250 + "@b.com", "name": "x"}),
    ("POST", "/users", {"email": 42, "name": "x"}),
    ("POST", "/users", {"name": "x"}),
    ("POST", "/users", {"email": "bad", "name": ""}),
    ("POST", "/users", {"email": "EMAIL", "name": "   "}),
    ("POST", "/users", {"email": "EMAIL", "name": "n" * 201}),
    ("POST", "/users", {"email": "EMAIL", "name": 7}),
    ("POST", "/users", {"email": "EMAIL"}),
    ("POST", "/users", b'{"email": "lone@example.com", "name": "\\ud800"}'),
    ("POST", "/users", b"[1, 2]"),
    ("POST", "/users", b"{not json"),
    ("POST", "/users", b""),
    ("POST", "/users", "email=a@b.co"),
]


def _request(
    case: tuple[str, str, Any], user: Json, flask: bool = False
) -> tuple[str, str, dict[str, Any]]:
    method, path, body = case
    url = path.replace("{id}", str(user["id"]))
    if isinstance(body, bytes | str):
        kind = "application/json" if isinstance(body, bytes) else "text/plain"
        if flask:
            return method, url, {"data": body, "content_type": kind}
        return method, url, {"content": body, "headers": {"content-type": kind}}
    if body is None:
        return method, url, {}
    marks = {"EMAIL": email(), "TAKEN": user["email"].upper()}
    return method, url, {"json": {k: marks.get(v, v) for k, v in body.items()}}


def _normalised(status: int, raw: bytes, user: Json) -> tuple[int, Any]:
    """The answer without what differs between two users: id, email, time, id in a message."""
    body = json.loads(raw) if raw else None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("id", "email", "created_at")}
        if body.get("message") == f"no user {user['id']}":
            body["message"] = "no user {id}"
    return status, body


@pytest.mark.parametrize("case", V1_CASES, ids=lambda case: f"{case[0]} {case[1]} {case[2]!r:.40}")
async def test_v1_answers_each_request_as_the_legacy_app_does(
    service: httpx.AsyncClient, legacy: Any, case: tuple[str, str, Any]
) -> None:
    theirs, ours = await make(service), await make(service)
    method, url, options = _request(case, theirs, flask=True)
    expected = legacy.open(url, method=method, **options)
    method, url, options = _request(case, ours)
    answer = await service.request(method, url, **options)

    assert _normalised(answer.status_code, answer.content, ours) == _normalised(
        expected.status_code, expected.data, theirs
    )
    assert answer.headers.get("content-type") == expected.headers.get("content-type")
    if answer.status_code == 201:
        keys = {"id", "email", "name", "created_at"}
        assert set(answer.json()) == set(expected.get_json()) == keys


async def test_an_address_is_stored_trimmed_and_lower_cased_by_either_side(
    service: httpx.AsyncClient, legacy: Any
) -> None:
    """A final newline passes legacy's check (`$` matches before it) and is stripped."""
    local = uuid.uuid4().hex
    ours = await service.post("/users", json={"email": f"Ours-{local}@Example.COM\n", "name": "A"})
    theirs = legacy.post("/users", json={"email": f"Theirs-{local}@Example.COM\n", "name": "B"})
    assert ours.json()["email"] == f"ours-{local}@example.com"
    assert theirs.get_json()["email"] == f"theirs-{local}@example.com"
    taken = await service.post("/users", json={"email": f"THEIRS-{local}@example.com", "name": "C"})
    assert (taken.status_code, taken.json()["error"]) == (409, "email_taken")


async def test_what_legacy_fails_on_with_a_500_on_postgresql_is_a_client_error_here(
    service: httpx.AsyncClient,
) -> None:
    """Legacy's INTEGER id and VARCHAR(255) address make both a server error on PostgreSQL."""
    past_32_bits = await service.get("/users/3000000000")
    assert (past_32_bits.status_code, past_32_bits.json()) == (
        404,
        {"error": "user_not_found", "message": "no user 3000000000"},
    )
    long = {"email": "İ" * 200 + "@example.com", "name": "Ada"}  # 412 characters lower-cased
    too_long = await service.post("/users", json=long)
    assert (too_long.status_code, too_long.json()["error"]) == (400, "validation_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users"),
        ("GET", "/users/abc"),
        ("GET", "/users/03"),
        ("GET", "/users/"),
        ("PUT", "/users/1"),
        ("DELETE", "/users/1"),
        ("POST", "/users/1"),
    ],
)
async def test_unknown_paths_and_methods_get_the_legacy_error_codes(
    service: httpx.AsyncClient, legacy: Any, method: str, path: str
) -> None:
    expected = legacy.open(path, method=method)
    answer = await service.request(method, path)
    assert answer.status_code == expected.status_code
    assert answer.json() == expected.get_json()


async def test_a_user_reads_the_same_byte_for_byte_whoever_wrote_it(
    service: httpx.AsyncClient, legacy: Any
) -> None:
    body = {"email": email(), "name": "Zoë Ångström ☕"}
    by_legacy = legacy.post("/users", json=body)
    by_service = await service.post("/users", json={**body, "email": email()})
    assert by_service.content.endswith(b"\n") and b"\\u2615" in by_service.content
    for made in (by_legacy.get_json(), by_service.json()):
        path = f"/users/{made['id']}"
        assert (await service.get(path)).content == legacy.get(path).data


async def test_a_user_the_service_signed_up_can_fill_a_legacy_cart(
    service: httpx.AsyncClient, legacy: Any
) -> None:
    user = await make(service)
    cart = legacy.get(f"/users/{user['id']}/cart")
    assert (cart.status_code, cart.get_json()["user_id"]) == (200, user["id"])


# ---------------------------------------------------------------- v2


async def test_v2_pages_walk_every_user_once_by_id(service: httpx.AsyncClient) -> None:
    made = [await make(service) for _ in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await service.get("/v2/users", params=params)).json()
        seen += [u["legacy_id"] for u in page["users"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [u["id"] for u in made]
    first = (await service.get("/v2/users", params={"limit": 1})).json()["users"][0]
    assert set(first) == {"id", "legacy_id", "email", "name", "created_at"}
    assert first["created_at"] == made[0]["created_at"]
    uuid.UUID(first["id"])


async def test_v2_finds_a_user_by_address_in_any_case_and_by_legacy_ids(
    service: httpx.AsyncClient,
) -> None:
    ada, bo, _ = await make(service), await make(service), await make(service)
    by_email = await service.get("/v2/users", params={"email": ada["email"].upper()})
    assert [u["legacy_id"] for u in by_email.json()["users"]] == [ada["id"]]
    ids = [bo["id"], ada["id"], MISSING_ID]
    by_ids = await service.get("/v2/users", params={"legacy_id": ids, "limit": 1})
    assert [u["legacy_id"] for u in by_ids.json()["users"]] == [ada["id"]]
    rest = await service.get(
        "/v2/users", params={"legacy_id": ids, "limit": 1, "cursor": by_ids.json()["next"]}
    )
    assert [u["legacy_id"] for u in rest.json()["users"]] == [bo["id"]]
    assert rest.json()["next"] is None
    nobody = await service.get("/v2/users", params={"email": email()})
    assert nobody.json() == {"users": [], "next": None}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"legacy_id": "abc"},
        {"legacy_id": "0"},
        {"legacy_id": [str(i) for i in range(1, 102)]},
        {"email": "not an address"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJhZnRlciI6ICJ4In0"},  # {"after": "x"}
    ],
)
async def test_v2_refuses_a_bad_query_with_a_problem_that_says_what_is_wrong(
    service: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await service.get("/v2/users", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM + "invalid-request"
    assert next(iter(params)) in response.json()["detail"]


async def test_v2_etags_answer_304_while_the_user_is_unchanged(
    service: httpx.AsyncClient, database: str
) -> None:
    made = await make(service)
    [user] = (await service.get("/v2/users", params={"legacy_id": made["id"]})).json()["users"]
    path = f"/v2/users/{user['id']}"
    first = await service.get(path)
    assert first.json() == user
    unchanged = await service.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    with engine_at(database) as engine, engine.begin() as conn:  # as an operator might
        conn.execute(update(users).where(users.c.id == made["id"]).values(name="Renamed"))
    fresh = await service.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert (fresh.status_code, fresh.json()["name"]) == (200, "Renamed")
    unknown = await service.get(f"/v2/users/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()["type"]) == (404, PROBLEM + "user-not-found")
    assert (await service.get("/v2/users/not-a-uuid")).status_code == 404


async def test_v2_sign_up_needs_a_key_and_a_retry_replays_its_answer(
    service: httpx.AsyncClient, database: str
) -> None:
    body = {"email": email(), "name": "Kay"}
    first = await service.post("/v2/users", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/v2/users/{first.json()['id']}"
    assert (await service.get(first.headers["location"])).json() == first.json()
    again = await service.post("/v2/users", json=body, headers={"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    other = await service.post(
        "/v2/users", json={**body, "name": "Jay"}, headers={"Idempotency-Key": "k-1"}
    )
    assert (other.status_code, other.json()["type"]) == (422, PROBLEM + "idempotency-key-reused")
    assert (await service.post("/v2/users", json=body)).status_code == 400
    shouted = {**body, "email": body["email"].upper()}
    taken = await service.post("/v2/users", json=shouted, headers={"Idempotency-Key": "k-2"})
    assert (taken.status_code, taken.json()["type"]) == (409, PROBLEM + "email-taken")
    typo = await service.post(
        "/v2/users", json={"emial": email(), "name": "Kay"}, headers={"Idempotency-Key": "k-3"}
    )
    assert (typo.status_code, typo.json()["detail"]) == (400, "unknown field(s): emial")
    assert count_users(database) == 1


async def test_a_dry_run_answers_like_the_real_sign_up_and_leaves_no_trace(
    service: httpx.AsyncClient, database: str
) -> None:
    taken = await make(service)
    body = {"email": email(), "name": "Dee"}
    v1 = await service.post("/users", json=body, headers=DRY_RUN)
    assert (v1.status_code, v1.headers["x-strangler-dry-run"]) == (201, "true")
    assert v1.headers["x-strangler-placeholders"] == "$.id, $.created_at"
    assert (v1.json()["email"], v1.json()["name"]) == (body["email"], "Dee")
    refused = await service.post("/users", json={**body, "email": taken["email"]}, headers=DRY_RUN)
    assert (refused.status_code, refused.json()["error"]) == (409, "email_taken")
    keyed = {"Idempotency-Key": "dry-1"}
    v2 = await service.post("/v2/users", json=body, headers={**keyed, **DRY_RUN})
    assert v2.status_code == 201 and v2.json()["legacy_id"] == 0
    assert count_users(database) == 1

    real = await service.post("/v2/users", json=body, headers=keyed)
    assert real.status_code == 201 and "idempotent-replayed" not in real.headers
    assert count_users(database) == 2


async def test_a_user_the_backfill_has_not_reached_gets_one_uuid_for_good_on_first_read(
    service: httpx.AsyncClient, database: str
) -> None:
    made = await make(service)
    with engine_at(database) as engine, engine.begin() as conn:  # as before the expand step
        conn.execute(update(users).where(users.c.id == made["id"]).values(uuid=None))
    [first] = (await service.get("/v2/users", params={"legacy_id": made["id"]})).json()["users"]
    [again] = (await service.get("/v2/users", params={"legacy_id": made["id"]})).json()["users"]
    assert first["id"] == again["id"]
    assert (await service.get(f"/v2/users/{first['id']}")).json() == first


# ---------------------------------------------------------------- the client


async def test_the_client_finds_a_user_by_legacy_id_and_nobody_for_an_unknown_one(
    service: httpx.AsyncClient,
) -> None:
    made = await make(service, name="Ines")
    client = users_client.UsersClient(service)
    found = await client.user(made["id"])
    assert found is not None
    assert (found.id, found.email, found.name) == (made["id"], made["email"], "Ines")
    assert await client.user(MISSING_ID) is None
    assert await client.user(2**64) is None
