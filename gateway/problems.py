"""RFC 9457 problem details: the gateway's only error format."""

from __future__ import annotations

import json
from typing import Any

TYPE_PREFIX = "urn:strangler-kit:problem:"


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> tuple[int, bytes]:
    """Status and body of an application/problem+json answer with a stable `type`."""
    body = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail, **extra}
    return status, json.dumps(body).encode()


CONTENT_TYPE = (b"content-type", b"application/problem+json")
