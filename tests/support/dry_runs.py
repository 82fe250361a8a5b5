"""Dry runs as the gateway sends them, for tests that call a service directly."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from new_services.platform import dry_run

KEY = "tests-dry-run-key-0123456789abcdef"  # the services under test are given this key


class SignDryRuns(httpx.Auth):
    """Sign a request's `X-Strangler-Shadow: dry-run` as the gateway would, for this request."""

    def __init__(self, key: str = KEY) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.headers.get(dry_run.HEADER, "").strip().lower() == "dry-run":
            target = request.url.raw_path.decode("ascii")
            request.headers[dry_run.HEADER] = dry_run.sign(self._key, request.method, target)
        yield request
