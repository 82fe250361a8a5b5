"""One stack per end-to-end test module (tests/e2e/shop.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.shop import Shop, started_shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with started_shop(tmp_path_factory.mktemp("services")) as started:
        yield started
