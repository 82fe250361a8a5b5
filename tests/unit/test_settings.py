"""Runner settings come from the environment, with clear errors for bad values."""

from pathlib import Path

import pytest

from strangler.settings import Settings, SettingsError


def test_each_part_gets_its_own_port_above_the_base() -> None:
    settings = Settings.from_env({"STRANGLER_PORT_BASE": "9000", "STRANGLER_HOME": "/tmp/x"})
    ports = {
        part: settings.port(part)
        for part in ("gateway", "legacy", "payments", "mail", "smtp", "redis")
    }
    assert ports["gateway"] == 9000
    assert len(set(ports.values())) == len(ports)
    assert all(9000 <= port < 9010 for port in ports.values())


def test_a_part_port_can_be_set_on_its_own() -> None:
    settings = Settings.from_env({"STRANGLER_LEGACY_PORT": "5055"})
    assert settings.port("legacy") == 5055
    assert settings.url("legacy") == "http://127.0.0.1:5055"


def test_without_database_url_the_shop_uses_a_sqlite_file_in_the_home_folder() -> None:
    settings = Settings.from_env({"STRANGLER_HOME": "/tmp/kit-home"})
    assert settings.shop_database_url == f"sqlite:///{Path('/tmp/kit-home').resolve() / 'shop.db'}"
    assert settings.shop_redis_url.startswith("redis://127.0.0.1:")


def test_database_and_redis_urls_switch_to_real_servers() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql+psycopg://db/x", "REDIS_URL": "redis://r:6379/1"}
    )
    assert settings.shop_database_url == "postgresql+psycopg://db/x"
    assert settings.shop_redis_url == "redis://r:6379/1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"STRANGLER_PORT_BASE": "eighty"}, "STRANGLER_PORT_BASE must be an integer"),
        ({"STRANGLER_PORT_BASE": "65534"}, "outside 1..65535"),
        ({"STRANGLER_PAYMENTS_FAILURE_RATE": "2"}, "between 0 and 1"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_them(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)
