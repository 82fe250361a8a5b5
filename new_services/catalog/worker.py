"""The catalog worker process: `python -m new_services.catalog.worker`, making placed orders'
stock holds final from their `order.placed` events (jobs.py)."""

from __future__ import annotations

from new_services.catalog.settings import CatalogSettings
from new_services.platform.workers import work


def main() -> None:
    settings = CatalogSettings.from_env()
    work("catalog-worker", settings.redis_url, f"{settings.namespace}-catalog")


if __name__ == "__main__":
    main()
