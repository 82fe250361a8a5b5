"""Real gateway processes in front of two echo upstreams, sharing a route table in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from strangler.parts import Part
from strangler.runner import running
from tests.conftest import free_port_base
from tests.integration.processes import uvicorn_part

ADMIN_TOKEN = "integration-admin-token-0123456789"
INTERNAL_TOKEN = "integration-internal-token-0123456789"
DRY_RUN_KEY = "integration-dry-run-key-0123456789"  # the gateways' and the upstreams'
STRANGLER = str(Path(sys.executable).with_name("strangler"))


def echo_part(name: str, port: int, shared: Path) -> Part:
    return uvicorn_part(
        f"echo-{name}",
        "tests.support.echo:create_app",
        port,
        {"ECHO_NAME": name, "ECHO_SHARED": str(shared), "STRANGLER_DRY_RUN_KEY": DRY_RUN_KEY},
        health="/_echo/health",
    )


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two echo upstreams standing in for the legacy and the extracted side."""
    home = tmp_path_factory.mktemp("echo")
    base = free_port_base()
    shared = home / "shared"  # a count both read and legacy's POST /bump raises: one database
    parts = {
        "legacy": echo_part("legacy", base + 1, shared),
        "extracted": echo_part("extracted", base + 2, shared),
    }
    with ExitStack() as stack:
        for part in parts.values():
            stack.enter_context(running(part, home, timeout_s=30))
        yield {name: part.url for name, part in parts.items()}


class GatewayProcess:
    def __init__(
        self, url: str, admin_url: str, port_base: int, store: tuple[str, str] = ("", "")
    ) -> None:
        self.url = url
        self.admin_url = admin_url
        self.port_base = port_base
        self.store_url, self.namespace = store  # where its route table is kept
        self.admin = httpx.Client(
            base_url=admin_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        self.public = httpx.Client(base_url=url, timeout=10)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`strangler ARGS...` pointed at this gateway's admin API."""
        env = {
            **os.environ,
            "STRANGLER_PORT_BASE": str(self.port_base),
            "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        return subprocess.run(
            [STRANGLER, *args], env=env, capture_output=True, text=True, timeout=30, check=False
        )

    def close(self) -> None:
        self.admin.close()
        self.public.close()

    def served_by(self, path: str, **kwargs: object) -> str:
        response = self.public.get(path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        served: str = response.json()["served_by"]
        return served

    def set(self, route: str, **settings: object) -> httpx.Response:
        return self.admin.patch(f"/routes/{route}", json={**settings, "reason": "test"})


@pytest.fixture
def gateway(
    tmp_path: Path, upstreams: dict[str, str], redis_url: str
) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways sharing one route table (a fresh Redis namespace per test)."""
    namespace = f"test:{uuid.uuid4().hex}"
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f'[upstreams]\nlegacy = "{upstreams["legacy"]}"\nextracted = "{upstreams["extracted"]}"\n\n'
        '[[routes]]\nname = "orders"\nmatch = ["/orders/**", "/users/{user_id}/orders"]\n'
        'extracted = "extracted"\nsticky_key = "path:user_id"\ntimeout_s = 2\n'
    )
    with ExitStack() as stack:

        def start(store_url: str | None = None, **env: str) -> GatewayProcess:
            base = free_port_base()
            port, admin_port = base, base + 6
            part = Part(
                name=f"gateway-{base}",
                argv=(sys.executable, "-m", "gateway"),
                ports=(port, admin_port),
                url=f"http://127.0.0.1:{port}",
                health=f"http://127.0.0.1:{admin_port}/healthz",
                env={
                    "GATEWAY_PORT": str(port),
                    "GATEWAY_ADMIN_PORT": str(admin_port),
                    "GATEWAY_ROUTES_FILE": str(routes),
                    "GATEWAY_REDIS_URL": store_url or redis_url,
                    "GATEWAY_NAMESPACE": namespace,
                    "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
                    "GATEWAY_INTERNAL_TOKEN": INTERNAL_TOKEN,
                    "STRANGLER_DRY_RUN_KEY": DRY_RUN_KEY,
                    **env,
                },
            )
            stack.enter_context(running(part, tmp_path))
            process = GatewayProcess(
                part.url,
                f"http://127.0.0.1:{admin_port}",
                base,
                (store_url or redis_url, namespace),
            )
            stack.callback(process.close)
            return process

        yield start
