"""Shadow traffic: mirror a sample to the extracted upstream, compare the two answers, and
never let a slow or broken candidate change what the client gets.

Both sides share one database, so an answer depends on when it is read. Parity must see
the two sides answer the same state, or it reports races as mismatches:

- A write is mirrored as a dry run that **leads**: it goes to the candidate first, and the
  primary goes to legacy once the dry run has answered (or after the route's
  `dry_run_wait_s`, whichever comes first). A dry run that answered before the primary
  left read the state legacy then wrote over (a checkout's cart, a cart's line); one that
  had not is counted `late` and not compared. The price: the primary waits for the dry
  run, up to `dry_run_wait_s`, on the mirrored share of writes (`shadow_sample`).
- A read is mirrored **after** the client has its answer (it costs the client nothing).
  When the candidate's answer differs, legacy is asked again: if legacy's own answer has
  changed meanwhile, the state moved under the comparison, and the candidate is compared
  with legacy's newer answer (a match counts; anything else is `moved`, not a mismatch).
- A dry run names the values it cannot know (`X-Strangler-Placeholders`: an order that
  was never placed has no id); those paths are left out of that one comparison.
- A read model may lag behind legacy's writes (a cache): when legacy held still, the
  candidate is asked once more with `Cache-Control: no-cache`; an answer that then matches
  is `stale` (behind, not wrong), counted beside parity.
- Noise: paths where legacy differs from itself (`noise_sample` replays) are left out of
  parity, counted as `discounted` (the route's `compare.discount_noise = false` stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gateway import compare as cmp
from gateway import headers as h
from gateway.jsonpath import generalise
from gateway.metrics import Metrics
from gateway.parity import ParityStore
from gateway.routes import SAFE_METHODS, Route, RouteTable
from gateway.upstream import Upstream, UpstreamError
from new_services.platform import dry_run as dry_runs

log = logging.getLogger("gateway.shadow")

MAX_COMPARED_BYTES = 1024 * 1024
PLACEHOLDERS = "x-strangler-placeholders"  # on a dry run's answer: paths it could not know
DRY_RUN_ANSWER = "x-strangler-dry-run"  # "true" on a dry run's answer: nothing was kept
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
    ordered: bool = True  # the dry run answered before the primary left


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
        dry_run_key: str | None,
        concurrency: int = 8,
        queue_size: int = 256,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        busy: Callable[[], bool] = lambda: False,
        secrets: Collection[str] = (),
    ) -> None:
        """`dry_run_key` signs dry runs (new_services/platform/dry_run.py); `secrets` (the
        gateway's tokens) are blanked out of every sample, whatever an upstream echoes."""
        self._metrics = metrics
        self._busy = busy  # True while the gateway is short of CPU: mirrors give way
        self._upstream = upstream
        self._parity = parity
        self._dry_run_key = dry_run_key or ""
        self._secrets = tuple(s for s in secrets if s)
        self._queue: asyncio.Queue[MirrorJob] = asyncio.Queue(maxsize=queue_size)
        self._concurrency = concurrency
        self._workers: list[asyncio.Task[None]] = []
        self._rng = rng or random.Random()
        self._rules: dict[tuple[str, int], cmp.CompareRules] = {}
        self._early: set[asyncio.Task[cmp.Response]] = set()
        self._drops: Counter[tuple[str, int]] = Counter()

    def sampled(self, route: Route, version: int) -> bool:
        """Whether to mirror this request: in the route's sample, and the gateway not busy."""
        if self._rng.random() >= route.shadow_sample:
            return False
        if self._busy():
            self._drop(route.name, version)
            return False
        return True

    def _drop(self, route: str, version: int) -> None:
        """Count a mirror not made. Counted here and written to the parity store in batches
        (`_flush`): when mirrors are dropped, they are dropped by the thousand."""
        self._drops[(route, version)] += 1

    async def _flush(self) -> None:
        drops, self._drops = self._drops, Counter()
        if self._metrics is not None:  # first: a parity store that fails loses only its own
            for (route, _), n in drops.items():
                self._metrics.shadow.labels(route, "dropped").inc(n)
        for (route, version), n in drops.items():
            await self._parity.count(route, "dropped", version, n=n)

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
        self._drop(job.route.name, job.table.version)

    def send_early(self, job: Replay) -> asyncio.Task[cmp.Response] | None:
        """Send a dry-run write to the candidate now, beside the primary; the comparison
        comes later through `offer`. None (dropped, counted) when as many are in flight as
        the workers and the queue could hold (early mirrors are bounded too), or when the
        gateway is busy."""
        assert job.route.extracted is not None
        if len(self._early) >= self._concurrency + self._queue.maxsize or self._busy():
            self._drop(job.route.name, job.table.version)
            return None
        task = asyncio.ensure_future(self.fetch(job, job.route.extracted, dry_run=True))
        self._early.add(task)
        task.add_done_callback(_forget_early(self._early))
        return task

    @staticmethod
    async def lead(early: asyncio.Task[cmp.Response], wait_s: float) -> bool:
        """Let a dry run lead its primary: wait until it has answered, at most `wait_s`;
        True when it has (its comparison is then fair)."""
        if not early.done() and wait_s > 0:
            await asyncio.wait((early,), timeout=wait_s)
        return early.done()

    async def _count(self, job: Replay, outcome: str, paths: Collection[str] = ()) -> None:
        if self._metrics is not None:
            self._metrics.shadow.labels(job.route.name, outcome).inc()
        await self._parity.count(job.route.name, outcome, job.table.version, paths)

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
                    await self._count(job, "candidate_error")
            finally:
                self._queue.task_done()

    def rules(self, route: Route, version: int) -> cmp.CompareRules:
        key = (route.name, version)
        if key not in self._rules:
            self._rules = {k: v for k, v in self._rules.items() if k[1] == version}
            self._rules[key] = cmp.parse_rules(route.compare)
        return self._rules[key]

    async def fetch(
        self, job: Replay, upstream: str, dry_run: bool, fresh: bool = False
    ) -> cmp.Response:
        """Send the request to `upstream` (as a dry run: marked, with a proof signed for this
        request only; `fresh`: with `Cache-Control: no-cache`, so a cache in front of the data
        reads anew). The internal token never goes upstream: it is the gateway's own."""
        headers = list(job.headers)
        url = job.table.upstreams[upstream] + job.url_tail
        if fresh:
            headers = [(n, v) for n, v in headers if n.lower() != "cache-control"]
            headers.append(("Cache-Control", "no-cache"))
        if dry_run:
            proof = dry_runs.sign(self._dry_run_key, job.method, _target(url))
            headers.append((h.SHADOW, proof))
        response = await self._upstream.send(
            job.method,
            url,
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
        if job.early is not None and not job.ordered:
            job.early.cancel()  # it may have read what the primary wrote: no fair comparison
            await self._count(job, "late")
            return
        try:
            if job.early is not None:
                candidate = await job.early
            else:
                candidate = await self.fetch(job, route.extracted, dry_run=False)
        except UpstreamError as exc:
            await self._count(job, "candidate_error")
            log.info("shadow candidate failed: %s", exc, extra={"request_id": job.request_id})
            return
        placeholders: tuple[str, ...] = ()
        if job.early is not None:
            if candidate.headers.get(DRY_RUN_ANSWER, "").lower() != "true":
                await self._not_dry_run(job, candidate)
                return
            placeholders = placeholders_of(candidate, job.request_id)
            rules = replace(rules, ignore=rules.ignore + placeholders)
        noise = await self._parity.noise(route.name) if rules.discount_noise else frozenset()
        result = cmp.compare(job.primary, candidate, rules)
        outcome, asked = await self._judge(job, candidate, result, rules, noise)
        if outcome == "mismatch":  # the sample first: whoever sees the count finds it
            sample = _sample(job, candidate, result, placeholders, asked, self._secrets)
            await self._parity.sample(route.name, sample)
        await self._count(job, outcome)
        discounted = _paths(result) & noise if outcome == "match" and not asked else set()
        if discounted:
            await self._count(job, "discounted", sorted(discounted))
        if (
            job.method in SAFE_METHODS
            and route.noise_sample
            and self._rng.random() < route.noise_sample
        ):
            await self._noise(job, rules)

    async def _not_dry_run(self, job: MirrorJob, candidate: cmp.Response) -> None:
        """A dry run answered as something else: refused (403 dry-run-unproven: the
        candidate does not share the gateway's STRANGLER_DRY_RUN_KEY), or not a dry run at
        all (a proxy in between dropped its header, and the write may have been kept).
        Never compared; counted and logged, so an operator sees it at once."""
        refused = candidate.status == 403 and b"dry_run_unproven" in candidate.body.replace(
            b"-", b"_"
        )
        outcome = "dry_run_refused" if refused else "not_dry_run"
        await self._count(job, outcome)
        log.error(
            "%s: a dry run on route %s was %s (%s %s answered %d)",
            outcome,
            job.route.name,
            "refused by the candidate: it does not share STRANGLER_DRY_RUN_KEY"
            if refused
            else "not answered as one: the write may have been kept",
            job.method,
            job.url_tail,
            candidate.status,
            extra={"request_id": job.request_id},
        )

    async def _judge(
        self,
        job: MirrorJob,
        candidate: cmp.Response,
        result: cmp.Comparison,
        rules: cmp.CompareRules,
        noise: frozenset[str],
    ) -> tuple[str, dict[str, cmp.Response]]:
        """match, mismatch, moved or stale; with the answers asked for a second time.

        A mismatch is a difference where legacy held still: legacy is read again after the
        candidate (and once more after a fresh read of the candidate), and the paths where
        legacy's own answers changed explain differences there, never elsewhere."""
        if _paths(result) <= noise:
            return "match", {}  # no difference, or only where legacy differs from itself
        if job.method not in SAFE_METHODS:
            return "mismatch", {}  # the dry run led: both read the same state
        asked: dict[str, cmp.Response] = {}
        differs = _differ(rules, noise)
        try:
            asked["legacy_again"] = again = await self.fetch(job, job.route.legacy, False)
        except UpstreamError:
            return "mismatch", asked  # legacy could not say whether the state moved
        if not differs(again, candidate):
            return "match", asked  # the candidate read the state legacy reads now
        moved = differs(job.primary, again)
        if not _paths(result) - noise - moved:
            return "moved", asked  # it differs only where legacy itself changed
        try:  # read anew, past any cache (a stale read model is not a wrong one)
            asked["extracted_fresh"] = fresh = await self.fetch(
                job, job.route.extracted or "", False, fresh=True
            )
            asked["legacy_last"] = last = await self.fetch(job, job.route.legacy, False)
        except UpstreamError:
            return "mismatch", asked
        moved |= differs(again, last)
        if not differs(last, fresh) - moved:
            return "stale", asked
        return "mismatch", asked

    async def _noise(self, job: MirrorJob, rules: cmp.CompareRules) -> None:
        """Diffy's idea: legacy against itself shows which differences are just non-determinism."""
        try:
            again = await self.fetch(job, job.route.legacy, dry_run=False)
        except UpstreamError:
            return
        result = cmp.compare(job.primary, again, rules)
        if result.match:
            await self._count(job, "noise_match")
        else:
            await self._count(job, "noise_mismatch", sorted(_paths(result)))


def _differ(
    rules: cmp.CompareRules, noise: frozenset[str]
) -> Callable[[cmp.Response, cmp.Response], frozenset[str]]:
    """Where two answers differ under `rules`, noise left out."""

    def differs(expected: cmp.Response, actual: cmp.Response) -> frozenset[str]:
        return _paths(cmp.compare(expected, actual, rules)) - noise

    return differs


def _paths(result: cmp.Comparison) -> frozenset[str]:
    """The places two answers differ, list indices as `[*]` (how noise paths are kept)."""
    return frozenset(generalise(d.path) for d in result.differences)


def placeholders_of(candidate: cmp.Response, request_id: str) -> tuple[str, ...]:
    """The JSON paths a dry run's answer says it could not know (ids of rows never made)."""
    raw = candidate.headers.get(PLACEHOLDERS, "")
    paths = tuple(p.strip() for p in raw.split(",") if p.strip())
    try:
        cmp.CompareRules(ignore=paths)
    except ValueError as exc:
        log.warning("ignored bad %s: %s", PLACEHOLDERS, exc, extra={"request_id": request_id})
        return ()
    return paths


def _forget_early(
    early: set[asyncio.Task[cmp.Response]],
) -> Callable[[asyncio.Task[cmp.Response]], None]:
    def forget(task: asyncio.Task[cmp.Response]) -> None:
        early.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here: a failure is counted by the job that awaits it

    return forget


def _target(url: str) -> str:
    """The path and query an upstream receives for `url`: what a dry run's proof signs."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _preview(body: bytes, limit: int = 2000) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every secret (and every dry-run proof) blanked out, at any depth."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[redacted]")
        return _PROOF.sub("sig=[redacted]", value)
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value


_PROOF = re.compile(r"sig=[0-9a-fA-F]{16,}")


def _sample(
    job: MirrorJob,
    candidate: cmp.Response,
    result: cmp.Comparison,
    placeholders: tuple[str, ...],
    asked: dict[str, cmp.Response],
    secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "request_id": job.request_id,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "table_version": job.table.version,
        "request": {"method": job.method, "path": job.url_tail, "body": _preview(job.body)},
        "legacy": {"status": job.primary.status, "body": _preview(job.primary.body)},
        "extracted": {"status": candidate.status, "body": _preview(candidate.body)},
        "diff": cmp.render(result),
        "differences": [
            {"path": d.path, "kind": d.kind, "legacy": d.expected, "extracted": d.actual}
            for d in result.differences[:20]
        ],
        "placeholders": list(placeholders),
    }
    for name, answer in asked.items():  # asked a second time: what came back
        sample[name] = {"status": answer.status, "body": _preview(answer.body)}
    redacted: dict[str, Any] = _redacted(sample, secrets)
    return redacted
