"""The OpenAPI document each service serves is valid and documents every route its app
serves (real answers against the documented schemas: test_openapi_answers.py, and the fuzz,
test_fuzz.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.applications import Starlette
from starlette.routing import Route

from tests.security.services import SERVICES, Where, service

pytestmark = pytest.mark.anyio
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def served_operations(app: Starlette) -> set[tuple[str, str]]:
    """(path template as OpenAPI writes it, method) of every route the app answers."""
    served = set()
    for route in app.routes:
        assert isinstance(route, Route), route
        template = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)  # {id:int} -> {id}
        served |= {(template, method.lower()) for method in route.methods or () if method != "HEAD"}
    return served


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def path_problems(document: dict[str, Any]) -> list[str]:
    """What the OpenAPI meta-schema cannot see: each `{name}` of a path is a required path
    parameter of each of its operations, and no operation declares one the path lacks."""
    found = []
    for path, item in document["paths"].items():
        in_template = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            if method not in METHODS:
                continue
            parameters = [*item.get("parameters", ()), *operation.get("parameters", ())]
            declared = {p["name"] for p in parameters if p.get("in") == "path"}
            if declared != in_template:
                found.append(f"{method.upper()} {path}: path parameters {sorted(declared)}")
            found += [
                f"{method.upper()} {path}: {p['name']} not required"
                for p in parameters
                if p.get("in") == "path" and p.get("required") is not True
            ]
    return found


async def served_document(app: Starlette) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)  # no lifespan: the document needs nothing
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
        answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def app_of(name: str, tmp_path: Path) -> Starlette:
    """The service's app, never started: its routes and document need no database."""
    return service(name, Where("sqlite://", "redis://127.0.0.1:1/0", "unused", tmp_path))


@pytest.mark.parametrize("name", SERVICES)
async def test_every_document_is_valid_openapi_with_every_path_parameter_declared(
    name: str, tmp_path: Path
) -> None:
    document = await served_document(app_of(name, tmp_path))
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    assert path_problems(document) == []


@pytest.mark.parametrize("name", SERVICES)
async def test_every_route_a_service_serves_is_in_its_document_and_nothing_else(
    name: str, tmp_path: Path
) -> None:
    app = app_of(name, tmp_path)
    assert served_operations(app) == documented_operations(await served_document(app))
