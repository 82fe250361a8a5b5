"""The analytics worker process: `python -m new_services.analytics`, folding order events
into the sales aggregates (jobs.py, projection.py)."""

from __future__ import annotations

from new_services.analytics.settings import AnalyticsSettings
from new_services.platform.workers import work


def main() -> None:
    settings = AnalyticsSettings.from_env()
    work("analytics-worker", settings.redis_url, settings.queue)


if __name__ == "__main__":
    main()
