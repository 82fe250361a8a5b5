"""What the stack keeps under its home (databases, Redis's files, logs, tokens) is its
owner's alone: no group or other permission, whatever the umask it was started with."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis

from strangler import schema
from strangler.parts import SECRETS, admin_token, ensure_secrets, redis_part
from strangler.runner import running
from strangler.settings import Settings
from tests.conftest import free_port_base


def readable_by_others(folder: Path) -> list[str]:
    """Every file or folder under `folder` (itself included) that a group or others may use."""
    paths = [folder, *folder.rglob("*")]
    return [
        f"{path} {stat.filemode(path.stat().st_mode)}"
        for path in paths
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ]


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), whatever this test process had."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_redis_files_and_the_log_of_a_part_the_runner_starts_are_private(
    tmp_path: Path, loose_umask: None
) -> None:
    home = tmp_path / "home"
    data = home / "redis"
    data.mkdir(parents=True)
    left = data / "dump.rdb.old"  # what an older run left readable
    left.write_bytes(b"customer data")
    left.chmod(0o644)
    part = redis_part("redis", "127.0.0.1", free_port_base(), data, persist=True)

    with running(part, home), Redis.from_url(part.url) as redis:
        redis.set("route-table", "secret")
        redis.save()  # dump.rdb, beside the append-only file made at start

        assert (data / "dump.rdb").exists()
        assert readable_by_others(data) == []
        assert readable_by_others(home / "logs") == []


def test_the_shop_database_the_stack_prepares_is_private(tmp_path: Path, loose_umask: None) -> None:
    home = tmp_path / "home"
    settings = replace(Settings.from_env(), home=home, database_url=None)

    assert schema.prepare(settings, lambda _: None)

    database = home / "shop.db"
    assert database.exists() and database.stat().st_size > 0
    assert readable_by_others(database) == []


def test_a_shop_database_left_world_readable_is_made_private(
    tmp_path: Path, loose_umask: None
) -> None:
    home = tmp_path / "home"
    settings = replace(Settings.from_env(), home=home, database_url=None)
    schema.prepare(settings, lambda _: None)
    (home / "shop.db").chmod(0o644)

    schema.prepare(settings, lambda _: None)

    assert readable_by_others(home / "shop.db") == []


def test_a_world_readable_token_file_is_made_private_and_the_operator_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env_name in SECRETS:
        monkeypatch.delenv(env_name, raising=False)
    settings = replace(Settings.from_env(), home=tmp_path)
    token = tmp_path / SECRETS["GATEWAY_ADMIN_TOKEN"]
    token.write_text("an-old-token-anyone-could-read")
    token.chmod(0o644)
    said: list[str] = []

    ensure_secrets(settings, said.append)

    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert any(str(token) in line and "0600" in line for line in said), said
    assert admin_token(settings) == "an-old-token-anyone-could-read"  # kept, not replaced
    assert stat.S_IMODE((tmp_path / SECRETS["GATEWAY_INTERNAL_TOKEN"]).stat().st_mode) == 0o600
