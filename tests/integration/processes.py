"""Real processes for integration tests: any ASGI factory under uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from strangler.parts import Part, uvicorn_argv

ROOT = Path(__file__).resolve().parents[2]


def uvicorn_part(
    name: str,
    factory: str,
    port: int,
    env: Mapping[str, str],
    health: str = "/healthz",
    more_ports: tuple[int, ...] = (),
) -> Part:
    url = f"http://127.0.0.1:{port}"
    return Part(
        name=name,
        argv=uvicorn_argv(factory, "127.0.0.1", port),
        ports=(port, *more_ports),
        url=url,
        health=url + health,
        env={"PYTHONPATH": str(ROOT), **env},
    )
