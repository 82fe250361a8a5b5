"""Idle and slow-header connections against the gateway: how many it holds, for how long,
and what they cost the requests it serves meanwhile. 127.0.0.1 only; bounded in time.

    .venv/bin/python benchmarks/slow_clients.py                       # about 40 s
    .venv/bin/python benchmarks/slow_clients.py --gateway-from /tmp/main-tree   # another tree

Phases, each `--seconds` long, with `--workers` keep-alive connections sending GET /bench
as fast as the gateway answers (a Starlette backend behind it, as in gateway_proxy.py):
  quiet    no held connections;
  held     `--idle` connections that send nothing and `--slow` that send a request head
           one byte a second (slowloris), all opened before the phase;
  closing  from just before the header timeout (`--header-timeout`, passed to the gateway
           as GATEWAY_HEADER_TIMEOUT_S) until after it: when the gateway closes them, if
           it does.
It prints p50/p99 and requests a second per phase, how many held connections were still
open at the end, when they were closed (seconds after they opened), and the gateway's RSS.
Not a test: it always exits 0 once it has measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import Children, free_port
from stack import REPO, start_gateway, start_starlette

REQUEST = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
SLOW_HEAD = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@dataclass
class Held:
    opened: float
    closed: float | None = None


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if not self.latencies:
            return f"{self.name:8} no answers, {self.errors} errors"
        ms = sorted(x * 1000 for x in self.latencies)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (
            f"{self.name:8} p50 {statistics.median(ms):6.2f} ms  p99 {p99:6.2f} ms  "
            f"{len(ms) / self.seconds:7.0f} req/s  errors {self.errors}"
        )


async def read_answer(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":", 1)[1]))
            return
    raise ConnectionError("no content-length")


async def worker(host: str, port: int, phase: Phase, until: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                writer.write(REQUEST)
                await read_answer(reader)
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                phase.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            phase.latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def load(host: str, port: int, name: str, seconds: float, workers: int) -> Phase:
    phase = Phase(name, seconds=seconds)
    until = time.perf_counter() + seconds
    await asyncio.gather(*(worker(host, port, phase, until) for _ in range(workers)))
    return phase


async def hold(host: str, port: int, slow: bool, held: Held) -> None:
    """One held connection: silent, or a request head a byte a second; notes when it closes."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        held.closed = time.monotonic()
        return
    try:
        if slow:
            writer.write(SLOW_HEAD)
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), 1.0)
            except TimeoutError:
                if slow:
                    writer.write(b"a")
                continue
            if not data:
                break
    except OSError:
        pass
    finally:
        held.closed = time.monotonic()
        writer.close()


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` and its children (the gateway is one process)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(args: argparse.Namespace, url: str, pid: int) -> None:
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    await load(host, port, "warm-up", 1.0, args.workers)
    phases = [await load(host, port, "quiet", args.seconds, args.workers)]
    rss_quiet = rss_mib(pid)

    holds = [Held(time.monotonic()) for _ in range(args.idle + args.slow)]
    tasks = []
    for i, held in enumerate(holds):
        tasks.append(asyncio.create_task(hold(host, port, i >= args.idle, held)))
        if i % 100 == 99:
            await asyncio.sleep(0.01)  # within the listen backlog
    opened_at = time.monotonic()
    await asyncio.sleep(0.5)
    open_before = sum(h.closed is None for h in holds)
    rss_held = rss_mib(pid)
    held_for = max(0.5, min(args.seconds, args.header_timeout - 1.5))
    phases.append(await load(host, port, "held", held_for, args.workers))
    # until 3 s past the header timeout (and the 1-s drip that may have just missed it)
    closing_for = max(1.0, opened_at + args.header_timeout + 3 - time.monotonic())
    phases.append(await load(host, port, "closing", closing_for, args.workers))
    still_open = sum(h.closed is None for h in holds)
    rss_after = rss_mib(pid)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)

    print(f"gateway from {args.gateway_from}; header timeout asked: {args.header_timeout} s")
    print(f"held: {args.idle} idle + {args.slow} slow-header connections, {args.workers} workers")
    for phase in phases:
        print("  " + phase.line())
    closed = [h.closed - h.opened for h in holds if h.closed is not None]
    print(f"  held connections open 0.5 s after opening: {open_before} of {len(holds)}")
    print(f"  still open {closing_for + held_for + 0.5:.1f} s after opening: {still_open}")
    if closed:
        print(
            f"  closed after (s): min {min(closed):.2f}  median {statistics.median(closed):.2f}"
            f"  max {max(closed):.2f}"
        )
    print(f"  gateway RSS: quiet {rss_quiet:.1f} MiB, held {rss_held:.1f}, after {rss_after:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--gateway-from", type=Path, default=REPO)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Children(Path(tmp), cpu=None) as children:
        backend_port = free_port()
        backend = start_starlette(children, backend_port)
        children.wait_ready(backend, f"http://127.0.0.1:{backend_port}/bench")
        gateway, url = start_gateway(
            children,
            args.gateway_from.resolve(),
            "gateway",
            f"http://127.0.0.1:{backend_port}",
            extra_env={"GATEWAY_HEADER_TIMEOUT_S": str(args.header_timeout)},
        )
        children.wait_ready(gateway, url + "/bench")
        asyncio.run(measure(args, url, gateway.process.pid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
