"""What the benchmark runs: the two backends, the gateway and NGINX, each as a child process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import BenchError, Child, Children, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # strangler.parts: the legacy shop runs exactly as the runner runs it

from strangler.parts import plan  # noqa: E402
from strangler.settings import Settings  # noqa: E402


def child_env(extra: Mapping[str, str] | None = None, source: Path = REPO) -> dict[str, str]:
    """The caller's environment without GATEWAY_*, so nothing of a real setup leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    return {**env, **(extra or {})}


def start_starlette(
    children: Children, port: int, name: str = "starlette", cpu: int | None = None
) -> Child:
    argv = [sys.executable, "-m", "uvicorn", "--factory", "backend:create_app"]
    argv += ["--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--no-access-log", "--log-level", "warning"]
    return children.start(name, argv, child_env(), REPO, cpu)


def start_legacy(children: Children, port: int, work: Path) -> Child:
    """The legacy part from strangler/parts.py (gunicorn, 1 worker, 32 threads) on a temp SQLite."""
    settings = Settings(
        home=work / "home",
        port_overrides=(("legacy", port),),
        database_url=f"sqlite:///{work / 'shop.db'}",
        redis_url="redis://127.0.0.1:1/0",  # set, so the plan holds no Redis part to build
    )
    part = next(p for p in plan(settings) if p.name == "legacy")
    return children.start("legacy", list(part.argv), child_env(part.env), REPO)


def seed_product(base: str) -> str:
    """One product through the shop's API; returns the path that reads it."""
    document = {"sku": "BENCH-1", "name": "Bench product", "price_cents": 1999, "stock": 100}
    request = urllib.request.Request(  # noqa: S310 -- loopback, a URL we built
        base + "/products",
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return f"/products/{json.load(response)['id']}"


def start_gateway(
    children: Children,
    source: Path,
    name: str,
    upstream: str,
    routes_file: Path | None = None,
    admin: Admin | None = None,
    client: str = "http1",
    extra_env: Mapping[str, str] | None = None,
) -> tuple[Child, str]:
    """`python -m gateway` with the `gateway` package found in `source` (the repo by default).

    Without Redis (no GATEWAY_REDIS_URL) its route table and parity counters are in memory.
    """
    port = free_port()
    env = child_env(
        {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_ADMIN_PORT": str(admin.port if admin else free_port()),
            "GATEWAY_UPSTREAM_LEGACY": upstream,
            "GATEWAY_HTTP_CLIENT": client,
            **(extra_env or {}),
        },
        source,
    )
    if routes_file is not None:
        env["GATEWAY_ROUTES_FILE"] = str(routes_file)
    if admin is not None:
        env["GATEWAY_ADMIN_TOKEN"] = admin.token
    child = children.start(name, [sys.executable, "-m", "gateway"], env, source)
    return child, f"http://127.0.0.1:{port}"


def gateway_http(source: Path) -> str:
    """The HTTP parser uvicorn picks for the gateway ("auto": httptools when importable)."""
    probe = "import importlib.util as u; print('httptools' if u.find_spec('httptools') else 'h11')"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=child_env(source=source),
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def write_routes(directory: Path, count: int, upstream: str) -> Path:
    """`count` legacy routes whose first segments (/areaN) a benchmark path never has."""
    lines = ["[upstreams]", f'legacy = "{upstream}"', ""]
    for n in range(count):
        lines += ["[[routes]]", f'name = "r{n}"', f'match = "/area{n}/{{id}}/**"']
        lines += ['mode = "legacy"', ""]
    path = directory / f"routes-{count}.toml"
    path.write_text("\n".join(lines))
    return path


def write_shadow_routes(directory: Path, mode: str, legacy: str, extracted: str) -> Path:
    """One route, /bench, with an extracted upstream: mirrored to it (shadow) or not (legacy)."""
    lines = ["[upstreams]", f'legacy = "{legacy}"', f'extracted = "{extracted}"', ""]
    lines += ["[[routes]]", 'name = "bench"', 'match = "/bench"', 'extracted = "extracted"']
    lines += [f'mode = "{mode}"', "shadow_sample = 1.0", ""]
    path = directory / f"routes-{mode}-mode.toml"
    path.write_text("\n".join(lines))
    return path


@dataclass(frozen=True)
class Admin:
    """A gateway's admin listener: its port and the bearer token it is started with."""

    port: int
    token: str

    @classmethod
    def new(cls) -> Admin:
        return cls(free_port(), secrets.token_urlsafe(24))  # 32 characters, the gateway wants 16+

    def get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 -- loopback
                document: dict[str, Any] = json.load(response)
                return document
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BenchError(f"admin GET {path} failed: {exc}") from exc


MIRROR_OUTCOMES = ("match", "mismatch", "candidate_error", "dropped")
SETTLE_GAP_S = 0.6


def mirror_counts(admin: Admin, route: str = "bench", settle_s: float = 5.0) -> dict[str, int]:
    """The route's shadow outcomes from `GET /parity`, once they stop moving.

    Mirrors run after the client has its answer, so the last few finish after wrk does,
    and dropped ones reach the counts in batches (every 0.5 s, `FLUSH_EVERY_S` in
    gateway/shadow.py): read until two reads `SETTLE_GAP_S` apart agree (or `settle_s`
    passes).
    """

    def read() -> dict[str, int]:
        figures = admin.get("/parity").get("routes", {}).get(route, {})
        return {outcome: int(figures.get(outcome, 0)) for outcome in MIRROR_OUTCOMES}

    deadline = time.monotonic() + settle_s
    counts = read()
    while time.monotonic() < deadline:
        time.sleep(SETTLE_GAP_S)
        again = read()
        if again == counts:
            break
        counts = again
    return counts


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{upstreams}
{servers}
}}
"""
NGINX_UPSTREAM = "    upstream {name} {{ server {host_port}; keepalive 64; }}"
NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}"""


def start_nginx(
    children: Children, binary: str, work: Path, backends: dict[str, str]
) -> tuple[Child, dict[str, str]]:
    """One NGINX, one listener per backend, a keepalive pool to each."""
    directory = work / "nginx"
    directory.mkdir()
    ports = {name: free_port() for name in backends}
    conf = NGINX_CONF.format(
        dir=directory,
        upstreams="\n".join(
            NGINX_UPSTREAM.format(name=name, host_port=url.removeprefix("http://"))
            for name, url in backends.items()
        ),
        servers="\n".join(NGINX_SERVER.format(port=ports[name], name=name) for name in backends),
    )
    (directory / "nginx.conf").write_text(conf)
    argv = [binary, "-p", f"{directory}/", "-c", str(directory / "nginx.conf")]
    argv += ["-e", str(directory / "error.log"), "-g", "daemon off;"]
    child = children.start("nginx", argv, child_env(), directory)
    return child, {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}


@dataclass(frozen=True)
class Target:
    backend: str
    via: str  # direct | gateway | aiohttp (the gateway on aiohttp's client) | nginx
    url: str
    proxy: Child | None  # whose CPU time is charged to the proxying


@dataclass(frozen=True)
class ShadowPair:
    """Two gateways in front of the Starlette backend, one route (/bench) each, a second
    Starlette backend as its extracted upstream: one in legacy mode, one in shadow mode."""

    legacy_mode: Target
    shadow_mode: Target
    admin: Admin  # the shadow-mode gateway's admin listener (GET /parity)


@dataclass(frozen=True)
class Stack:
    targets: list[Target]
    route_tables: dict[int, str]  # routes in the table -> URL of /bench through that gateway
    shadow: ShadowPair


def start_stack(
    children: Children, work: Path, gateway_from: Path, nginx: str, candidate_cpu: int | None
) -> Stack:
    """Both backends, a gateway for each, NGINX for both, the two route-table gateways, and
    a second Starlette backend (extracted) with a legacy-mode and a shadow-mode gateway.

    The extracted backend runs on `candidate_cpu` (wrk's core), not the servers' core: in a
    real deployment the candidate runs on machines of its own, and the shadow figure is
    about what mirroring costs the gateway, not about the candidate's CPU taking the
    gateway's."""
    starlette_port, legacy_port, extracted_port = free_port(), free_port(), free_port()
    starlette = start_starlette(children, starlette_port)
    legacy = start_legacy(children, legacy_port, work)
    extracted = start_starlette(children, extracted_port, "starlette-extracted", candidate_cpu)
    direct = {
        "starlette": f"http://127.0.0.1:{starlette_port}",
        "legacy": f"http://127.0.0.1:{legacy_port}",
    }
    extracted_url = f"http://127.0.0.1:{extracted_port}"
    children.wait_ready(starlette, direct["starlette"] + "/bench")
    children.wait_ready(extracted, extracted_url + "/bench")
    children.wait_ready(legacy, direct["legacy"] + "/healthz")
    paths = {"starlette": "/bench", "legacy": seed_product(direct["legacy"])}

    gateways = {
        name: start_gateway(children, gateway_from, f"gateway-{name}", url)
        for name, url in direct.items()
    }
    # the same gateway with the client it had before its own (gateway/http1.py), for the figure
    aiohttp = start_gateway(
        children, gateway_from, "gateway-aiohttp", direct["starlette"], client="aiohttp"
    )
    sized = {
        size: start_gateway(
            children,
            gateway_from,
            f"gateway-{size}-routes",
            direct["starlette"],
            write_routes(work, size, direct["starlette"]),
        )
        for size in (10, 1000)
    }
    admin = Admin.new()
    modes = {
        mode: start_gateway(
            children,
            gateway_from,
            f"gateway-{mode}-mode",
            direct["starlette"],
            write_shadow_routes(work, mode, direct["starlette"], extracted_url),
            admin if mode == "shadow" else None,
        )
        for mode in ("legacy", "shadow")
    }
    nginx_child, via_nginx = start_nginx(children, nginx, work, direct)

    targets: list[Target] = []
    for name, path in paths.items():
        gateway, via_gateway = gateways[name]
        targets += [
            Target(name, "direct", direct[name] + path, None),
            Target(name, "gateway", via_gateway + path, gateway),
            Target(name, "nginx", via_nginx[name] + path, nginx_child),
        ]
        if name == "starlette":
            targets.insert(-1, Target(name, "aiohttp", aiohttp[1] + path, aiohttp[0]))
    for target in targets:
        if target.proxy is not None:
            children.wait_ready(target.proxy, target.url)
    for child, url in sized.values():
        children.wait_ready(child, url + "/bench")
    pair = {
        mode: Target("starlette", f"{mode}-mode", url + "/bench", child)
        for mode, (child, url) in modes.items()
    }
    for target in pair.values():
        assert target.proxy is not None
        children.wait_ready(target.proxy, target.url)
    return Stack(
        targets,
        {size: url + "/bench" for size, (_, url) in sized.items()},
        ShadowPair(pair["legacy"], pair["shadow"], admin),
    )
