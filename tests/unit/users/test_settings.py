"""The users service's settings come from the environment once, with the stack's defaults."""

from __future__ import annotations

from new_services.users.settings import UsersSettings


def test_settings_default_to_the_local_stack() -> None:
    settings = UsersSettings.from_env({})
    assert settings.database_url == "sqlite:///shop.db"
    assert (settings.idempotency_lease_s, settings.dry_run_key) == (60.0, None)


def test_settings_are_read_from_the_environment_and_the_key_is_never_shown() -> None:
    settings = UsersSettings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://shop@db/shop",
            "USERS_IDEMPOTENCY_PURGE_EVERY_S": "0",
            "STRANGLER_DRY_RUN_KEY": "secret-key",
        }
    )
    assert settings.database_url == "postgresql+psycopg://shop@db/shop"
    assert (settings.idempotency_purge_every_s, settings.dry_run_key) == (0.0, "secret-key")
    assert "secret-key" not in repr(settings)
