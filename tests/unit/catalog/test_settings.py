"""The catalog's settings come from the environment once, with the stack's defaults."""

from __future__ import annotations

from new_services.catalog.settings import CatalogSettings


def test_settings_default_to_the_local_stack() -> None:
    settings = CatalogSettings.from_env({})
    assert settings.database_url == "sqlite:///shop.db"
    assert settings.redis_url == "redis://127.0.0.1:8005/0"
    assert (settings.namespace, settings.cache_ttl_s) == ("strangler", 30.0)


def test_settings_are_read_from_the_environment() -> None:
    settings = CatalogSettings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://shop@db/shop",
            "REDIS_URL": "redis://cache:6379/1",
            "STRANGLER_NAMESPACE": "stack-b",
            "CATALOG_CACHE_TTL_S": "5",
        }
    )
    assert settings.database_url == "postgresql+psycopg://shop@db/shop"
    assert (settings.redis_url, settings.namespace, settings.cache_ttl_s) == (
        "redis://cache:6379/1",
        "stack-b",
        5.0,
    )
