"""The payments worker process: `python -m new_services.payments.worker`, recording the
refunds legacy makes when it cancels an order the services charged (jobs.py)."""

from __future__ import annotations

from new_services.payments import jobs
from new_services.payments.settings import PaymentsSettings
from new_services.platform.database import make_engine
from new_services.platform.workers import work


def main() -> None:
    settings = PaymentsSettings.from_env()
    engine = make_engine(settings.database_url)
    jobs.wire(jobs.Wiring(settings, engine))
    try:
        work("payments-worker", settings.redis_url, settings.queue)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
