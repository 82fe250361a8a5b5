"""Shadow traffic: mirror a sample to the extracted upstream, compare the two answers, and
never let a slow or broken candidate touch the primary path.

Reads are mirrored after the client has its answer. A dry-run write is sent beside the
primary instead: its answer depends on state the primary is about to change (a checkout
empties the cart it reads), so only a mirror that runs alongside sees what the primary saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway import compare as cmp
from gateway import headers as h
from gateway.metrics import Metrics
from gateway.parity import ParityStore
from gateway.routes import SAFE_METHODS, Route, RouteTable
from gateway.upstream import Upstream, UpstreamError

log = logging.getLogger("gateway.shadow")

MAX_COMPARED_BYTES = 1024 * 1024
FLUSH_EVERY_S = 0.5  # how often the count of dropped mirrors reaches the parity store


@dataclass(frozen=True)
class Replay:
    """A request as the gateway forwarded it, ready to be sent again to another upstream."""

    route: Route
    table: RouteTable
    method: str
    url_tail: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class MirrorJob(Replay):
    primary: cmp.Response
    request_id: str
    early: asyncio.Task[cmp.Response] | None = None  # a dry-run write already sent


def mirrorable(route: Route, method: str) -> bool:
    """Safe methods are mirrored; a write only to a target that runs it as a dry run."""
    return method in SAFE_METHODS or route.dry_run


class Shadow:
    """A bounded queue and a fixed pool of workers: when the candidate is slow, jobs are
    dropped (and counted), never queued without limit and never waited for. While the
    gateway itself is busy (`busy`), new jobs are dropped too: a mirror costs about as much
    CPU as the request it copies, and the clients' requests come first."""

    def __init__(
        self,
        upstream: Upstream,
        parity: ParityStore,
        internal_token: str | None,
        concurrency: int = 8,
        queue_size: int = 256,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self._metrics = metrics
        self._busy = busy  # True while the gateway is short of CPU: mirrors give way
        self._upstream = upstream
        self._parity = parity
        self._token = internal_token
        self._queue: asyncio.Queue[MirrorJob] = asyncio.Queue(maxsize=queue_size)
        self._concurrency = concurrency
        self._workers: list[asyncio.Task[None]] = []
        self._rng = rng or random.Random()
        self._rules: dict[tuple[str, int], cmp.CompareRules] = {}
        self._early: set[asyncio.Task[cmp.Response]] = set()
        self._drops: Counter[str] = Counter()

    def sampled(self, route: Route) -> bool:
        """Whether to mirror this request: in the route's sample, and the gateway not busy."""
        if self._rng.random() >= route.shadow_sample:
            return False
        if self._busy():
            self._drop(route.name)
            return False
        return True

    def _drop(self, route: str) -> None:
        """Count a mirror not made. Counted here and written to the parity store in batches
        (`_flush`): when mirrors are dropped, they are dropped by the thousand."""
        self._drops[route] += 1

    async def _flush(self) -> None:
        drops, self._drops = self._drops, Counter()
        if self._metrics is not None:  # first: a parity store that fails loses only its own
            for route, n in drops.items():
                self._metrics.shadow.labels(route, "dropped").inc(n)
        for route, n in drops.items():
            await self._parity.count(route, "dropped", n=n)

    async def _flush_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self._flush()
            except Exception:  # the store is down: these counts are lost, the next are not
                log.warning("could not write the dropped mirrors' count", exc_info=True)

    def offer(self, job: MirrorJob) -> bool:
        """Queue a job without waiting; False when the queue is full or the gateway busy (the
        job is dropped)."""
        try:
            if self._busy():
                raise asyncio.QueueFull
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._give_up(job)
            return False
        return True

    def _give_up(self, job: MirrorJob) -> None:
        """Drop a job: its dry run, if one went out beside the primary, is cancelled."""
        if job.early is not None:
            job.early.cancel()
        self._drop(job.route.name)

    def send_early(self, job: Replay) -> asyncio.Task[cmp.Response] | None:
        """Send a dry-run write to the candidate now, beside the primary; the comparison
        comes later through `offer`. None (dropped, counted) when as many are in flight as
        the workers and the queue could hold (early mirrors are bounded too), or when the
        gateway is busy."""
        assert job.route.extracted is not None
        if len(self._early) >= self._concurrency + self._queue.maxsize or self._busy():
            self._drop(job.route.name)
            return None
        task = asyncio.ensure_future(self.fetch(job, job.route.extracted, dry_run=True))
        self._early.add(task)
        task.add_done_callback(_forget_early(self._early))
        return task

    async def _count(self, route: str, outcome: str, paths: list[str] | None = None) -> None:
        if self._metrics is not None:
            self._metrics.shadow.labels(route, outcome).inc()
        await self._parity.count(route, outcome, paths)

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"shadow-{n}") for n in range(self._concurrency)
        ]
        self._workers.append(asyncio.create_task(self._flush_now_and_then(), name="shadow-flush"))

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        with contextlib.suppress(Exception):
            await self._flush()

    async def drain(self) -> None:
        """Wait until every queued job is done and counted (tests, shutdown)."""
        await self._queue.join()
        await self._flush()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if self._busy():  # queued while there was room; now the clients come first
                    self._give_up(job)
                    continue
                await self._mirror(job)
            except Exception:  # a broken mirror must never stop the workers
                log.exception("shadow job failed", extra={"request_id": job.request_id})
                with contextlib.suppress(Exception):
                    await self._count(job.route.name, "candidate_error")
            finally:
                self._queue.task_done()

    def rules(self, route: Route, version: int) -> cmp.CompareRules:
        key = (route.name, version)
        if key not in self._rules:
            self._rules = {k: v for k, v in self._rules.items() if k[1] == version}
            self._rules[key] = cmp.parse_rules(route.compare)
        return self._rules[key]

    async def fetch(self, job: Replay, upstream: str, dry_run: bool) -> cmp.Response:
        """Send the request to `upstream` (as a dry run: marked, and with the internal token)."""
        headers = list(job.headers)
        if dry_run:
            headers.append((h.SHADOW, "dry-run"))
            if self._token:
                headers.append((h.TOKEN, self._token))
        response = await self._upstream.send(
            job.method,
            job.table.upstreams[upstream] + job.url_tail,
            headers,
            job.body,
            job.route.timeout_s,
            job.route.connect_timeout_s,
        )
        body = await response.read()
        return cmp.Response(response.status, h.by_name(response.headers), body)

    async def _mirror(self, job: MirrorJob) -> None:
        route = job.route
        assert route.extracted is not None
        rules = self.rules(route, job.table.version)
        try:
            if job.early is not None:
                candidate = await job.early
            else:
                candidate = await self.fetch(
                    job, route.extracted, dry_run=job.method not in SAFE_METHODS
                )
        except UpstreamError as exc:
            await self._count(route.name, "candidate_error")
            log.info("shadow candidate failed: %s", exc, extra={"request_id": job.request_id})
            return
        result = cmp.compare(job.primary, candidate, rules)
        if result.match:
            await self._count(route.name, "match")
        else:
            await self._count(route.name, "mismatch")
            await self._parity.sample(route.name, _sample(job, candidate, result))
        if (
            job.method in SAFE_METHODS
            and route.noise_sample
            and self._rng.random() < route.noise_sample
        ):
            await self._noise(job, rules)

    async def _noise(self, job: MirrorJob, rules: cmp.CompareRules) -> None:
        """Diffy's idea: legacy against itself shows which differences are just non-determinism."""
        try:
            again = await self.fetch(job, job.route.legacy, dry_run=False)
        except UpstreamError:
            return
        result = cmp.compare(job.primary, again, rules)
        if result.match:
            await self._count(job.route.name, "noise_match")
        else:
            paths = sorted(cmp.noise_paths([result]))
            await self._count(job.route.name, "noise_mismatch", paths)


def _forget_early(
    early: set[asyncio.Task[cmp.Response]],
) -> Callable[[asyncio.Task[cmp.Response]], None]:
    def forget(task: asyncio.Task[cmp.Response]) -> None:
        early.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here: a failure is counted by the job that awaits it

    return forget


def _preview(body: bytes, limit: int = 2000) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def _sample(job: MirrorJob, candidate: cmp.Response, result: cmp.Comparison) -> dict[str, Any]:
    return {
        "request_id": job.request_id,
        "table_version": job.table.version,
        "request": {"method": job.method, "path": job.url_tail, "body": _preview(job.body)},
        "legacy": {"status": job.primary.status, "body": _preview(job.primary.body)},
        "extracted": {"status": candidate.status, "body": _preview(candidate.body)},
        "diff": cmp.render(result),
    }
