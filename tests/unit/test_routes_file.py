"""The seed route table (gateway/routes.toml) sends each shop path to the route that owns
it: a user's account to `users`, what lies under it to `carts-and-checkout`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway.routes import Mode, RouteTable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable.from_dict(tomllib.loads((ROOT / "gateway" / "routes.toml").read_text()))


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", "/users", "users"),
        ("GET", "/users/7", "users"),
        ("GET", "/users/7/cart", "carts-and-checkout"),
        ("POST", "/users/7/cart/items", "carts-and-checkout"),
        ("DELETE", "/users/7/cart/items/3", "carts-and-checkout"),
        ("POST", "/users/7/checkout", "carts-and-checkout"),
        ("GET", "/users/7/orders", "carts-and-checkout"),
        ("POST", "/v2/users", "users-v2"),
        ("GET", "/v2/users/0b8f5a56-3c1e-4a0e-9a43-3d7c2f6b9e10", "users-v2"),
        ("GET", "/users/7/anything-else", "default"),
    ],
)
def test_each_users_path_goes_to_the_route_that_owns_it(
    table: RouteTable, method: str, path: str, route: str
) -> None:
    assert table.match(method, path).route.name == route


def test_users_starts_on_legacy_keyed_by_user_and_its_v2_on_the_service_alone(
    table: RouteTable,
) -> None:
    users = table.match("GET", "/users/7")
    assert (users.route.mode, users.route.extracted) == (Mode.LEGACY, "users")
    assert str(users.route.sticky_key) == "path:user_id" and users.params == {"user_id": "7"}
    v2 = table.match("GET", "/v2/users").route
    assert (v2.mode, v2.extracted, v2.fallback) == (Mode.EXTRACTED, "users", False)
