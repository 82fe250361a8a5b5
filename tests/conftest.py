"""Shared fixtures: the running stack, started by the runner unless SHOP_URL points at one."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from strangler.parts import Part, redis_server_binary
from strangler.runner import Stack, port_is_free, running
from strangler.settings import PORT_OFFSETS, Settings


@dataclass(frozen=True)
class StackUrls:
    shop: str  # what clients use: the gateway
    payments: str
    mail: str
    legacy: str  # the legacy shop itself, behind the gateway


def free_port_base(host: str = "127.0.0.1") -> int:
    """A base port whose whole block of part ports is free right now."""
    span = max(PORT_OFFSETS.values()) + 1
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 40_000, 10)
        if all(port_is_free(host, base + offset) for offset in range(span)):
            return base
    raise RuntimeError("no free block of ports found")


def stack_settings(home: Path) -> Settings:
    """Settings for a throw-away stack in `home` on free ports (DATABASE_URL, REDIS_URL apply)."""
    return replace(
        Settings.from_env(),
        home=home,
        port_base=free_port_base(),
        port_overrides=(),
        namespace=f"test-{uuid.uuid4().hex[:12]}",  # a shared Redis may hold other stacks' keys
    )


@pytest.fixture(scope="session")
def stack_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackUrls]:
    if os.environ.get("SHOP_URL"):
        yield StackUrls(
            shop=os.environ["SHOP_URL"],
            payments=os.environ["PAYMENTS_URL"],
            mail=os.environ["MAIL_URL"],
            legacy=os.environ.get("LEGACY_URL", os.environ["SHOP_URL"]),
        )
        return
    settings = stack_settings(tmp_path_factory.mktemp("stack"))
    stack = Stack(settings)
    stack.up()
    try:
        yield StackUrls(
            shop=settings.url("gateway"),
            payments=settings.url("payments"),
            mail=settings.url("mail"),
            legacy=settings.url("legacy"),
        )
    finally:
        stack.down()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set, else an embedded redis-server started for this test session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    home = tmp_path_factory.mktemp("redis")
    port = free_port_base()
    url = f"redis://127.0.0.1:{port}/0"
    part = Part(
        name="redis",
        argv=(
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(home),
        ),
        ports=(port,),
        url=url,
        health=url,
    )
    with running(part, home):
        yield url
