"""One stack for the end-to-end tests that drive the shop (tests/e2e/shop.py): each test leaves
the route table as it found it, or says what it changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.shop import Shop, started_shop


@pytest.fixture(scope="package")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with started_shop(tmp_path_factory.mktemp("services")) as started:
        yield started
