"""The gateway's upstream client: a small interface and the pooled aiohttp implementation."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

Headers = Sequence[tuple[str, str]]


class UpstreamError(Exception):
    """The upstream did not answer. See the subclasses for whether the request left the gateway."""


class UpstreamUnreachable(UpstreamError):
    """The connection was refused or could not be made: the request never reached the upstream."""


class UpstreamTimeout(UpstreamError):
    """The upstream took longer than the route allows (the request may have been processed)."""


class UpstreamBroken(UpstreamError):
    """The connection broke after the request was sent (the request may have been processed)."""


def _nothing() -> None:
    return None


@dataclass
class UpstreamResponse:
    status: int
    headers: Headers
    body: AsyncIterator[bytes]
    # Called when the caller is done with the answer, read to the end or not: an answer
    # left unread gives its connection up (closed, never reused) instead of holding it.
    release: Callable[[], None] = _nothing

    async def read(self) -> bytes:
        try:
            return b"".join([chunk async for chunk in self.body])
        finally:
            self.release()


class Upstream(Protocol):
    """What the proxy needs from an HTTP client; tests pass a fake."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        timeout_s: float,
        connect_timeout_s: float,
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...


class AiohttpUpstream:
    """One pooled aiohttp session for every upstream (chosen by measurement, gateway/README.md)."""

    def __init__(self, pool_size: int = 256) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300),
                auto_decompress=False,  # pass bodies through byte for byte
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        timeout_s: float,
        connect_timeout_s: float,
    ) -> UpstreamResponse:
        timeout = _timeout(timeout_s, connect_timeout_s)
        try:
            response = await self._client().request(
                method,
                URL(url, encoded=True),  # the query string and path go out byte for byte
                headers=list(headers),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise UpstreamUnreachable(str(exc)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"no answer within {timeout_s} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(str(exc)) from exc
        if body and response.status >= 400 and response.connection is not None:
            # An upstream may answer before reading the whole body (a 413, a 401) and then
            # drop the connection while still saying keep-alive (gunicorn does): never
            # reuse it, or the next request through the pool dies on it.
            protocol = response.connection.protocol
            if protocol is not None:
                protocol.force_close()
        return UpstreamResponse(
            status=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            body=_stream(response, timeout_s),
            release=response.release,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@functools.lru_cache(maxsize=256)
def _timeout(read_s: float, connect_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=connect_s, sock_read=read_s)


async def _stream(response: aiohttp.ClientResponse, timeout_s: float) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except TimeoutError as exc:
        raise UpstreamTimeout(f"the body stalled for {timeout_s} s") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamBroken(str(exc)) from exc
    finally:
        response.release()
