"""Gateway benchmark: each backend direct, through `python -m gateway` and through NGINX.

Prints figures, not a verdict: throughput at 32 connections, latency at one, p99 and errors,
each beside its target, then the cost of a 1,000-route table against a 10-route one, and
the p99 of a route in shadow mode (mirroring every request) against the same in legacy mode.
Run it with the repo's venv: `.venv/bin/python benchmarks/gateway_proxy.py [--quick] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import (
    WRK_DONE_LUA,
    BenchError,
    Children,
    ForeignLoad,
    Wrk,
    busy_share,
    find_nginx,
)
from report import BUSY_WARNING, Loaded, Measured, ShadowFigure, render, report
from stack import REPO, ShadowPair, Target, gateway_http, mirror_counts, start_stack

INSTALL = "install with: apt-get update && apt-get install -y wrk nginx-light  (or: nginx)"


@dataclass(frozen=True)
class Plan:
    seconds: int  # each measured wrk run
    warmup_s: int  # one run at 32 connections, thrown away, before each target
    server_cpu: int | None
    wrk_cpu: int | None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(wrk: Wrk, plan_: Plan, target: Target) -> Measured:
    """Warm-up, 32 connections (throughput, p99, the proxy's CPU), then 1 connection (p50)."""
    log(f"  {target.backend:9} {target.via:8} {target.url}")
    proxy = target.proxy
    wrk.run(target.url, 32, plan_.warmup_s)
    cpu_before = proxy.cpu_seconds() if proxy else 0.0
    busy = wrk.run(target.url, 32, plan_.seconds)
    cpu = proxy.cpu_seconds() - cpu_before if proxy else 0.0
    idle = wrk.run(target.url, 1, plan_.seconds)
    per_req = cpu / busy.requests * 1e6 if proxy and busy.requests else None
    return Measured(target.backend, target.via, busy, idle, per_req)


def route_table_rps(wrk: Wrk, plan_: Plan, urls: dict[int, str]) -> dict[int, float]:
    """Alternating runs (10, 1000, 10, 1000) so drift on the machine hits both tables alike."""
    for url in urls.values():
        wrk.run(url, 32, plan_.warmup_s)
    totals = dict.fromkeys(urls, 0.0)
    for _ in range(2):
        for size, url in urls.items():
            totals[size] += wrk.run(url, 32, plan_.seconds).rps / 2
    return totals


SHADOW_ROUNDS = 2  # legacy mode, shadow mode, legacy mode, shadow mode


def loaded(wrk: Wrk, plan_: Plan, target: Target) -> Loaded:
    """One run at 32 connections (as in `measure`) and the gateway's CPU time over it."""
    assert target.proxy is not None
    cpu_before = target.proxy.cpu_seconds()
    busy = wrk.run(target.url, 32, plan_.seconds)
    return Loaded(busy, target.proxy.cpu_seconds() - cpu_before)


def shadow_cost(wrk: Wrk, plan_: Plan, pair: ShadowPair) -> ShadowFigure:
    """Both gateways warmed up, then runs alternate (legacy mode, shadow mode, twice) so drift
    hits both alike; the shadow gateway's mirror outcomes (GET /parity) are read around its
    measured runs only."""
    for target in (pair.legacy_mode, pair.shadow_mode):
        log(f"  {target.backend:9} {target.via:8} {target.url}")
        wrk.run(target.url, 32, plan_.warmup_s)
    before = mirror_counts(pair.admin)  # the warm-up's mirrors, settled
    legacy_mode: list[Loaded] = []
    shadow_mode: list[Loaded] = []
    for _ in range(SHADOW_ROUNDS):
        legacy_mode.append(loaded(wrk, plan_, pair.legacy_mode))
        shadow_mode.append(loaded(wrk, plan_, pair.shadow_mode))
    after = mirror_counts(pair.admin)
    mirrors = {outcome: after[outcome] - before[outcome] for outcome in after}
    return ShadowFigure(legacy_mode, shadow_mode, mirrors)


def run(args: argparse.Namespace, wrk_binary: str, nginx: str) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    pin = cores >= 2 and shutil.which("taskset") is not None
    plan_ = Plan(
        seconds=1 if args.quick else args.seconds,
        warmup_s=1,
        server_cpu=0 if pin and not args.no_pin_servers else None,
        wrk_cpu=1 if pin else None,
    )
    busy = busy_share()
    if busy is not None and busy > BUSY_WARNING:
        log(f"warning: the CPUs were {busy:.0%} busy before the run; the figures will be noisy")
    with (
        tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp,
        Children(Path(tmp), plan_.server_cpu) as children,
    ):
        work = Path(tmp)
        (work / "done.lua").write_text(WRK_DONE_LUA)
        wrk = Wrk(wrk_binary, work / "done.lua", plan_.wrk_cpu)
        log("starting backends, gateways and NGINX ...")
        stack = start_stack(children, work, args.gateway_from, nginx, plan_.wrk_cpu)
        log("measuring (backend, via, url):")
        children_cpu_before = children.cpu_seconds()
        foreign = ForeignLoad()
        try:
            results = [measure(wrk, plan_, t) for t in stack.targets]
            log("  route table: 10 and 1,000 routes, GET /bench (matches none)")
            table = route_table_rps(wrk, plan_, stack.route_tables)
            log("  shadow: route /bench in legacy mode and in shadow mode mirroring 100%")
            shadow = shadow_cost(wrk, plan_, stack.shadow)
        except BenchError as exc:
            raise BenchError(f"{exc}\n{children.casualties()}") from exc
        foreign_share = foreign.share(children.cpu_seconds() - children_cpu_before)
        log("stopping ...")
    machine = {
        "busy_before": None if busy is None else round(busy, 3),
        "foreign_load": None if foreign_share is None else round(foreign_share, 3),
        "gateway_http": gateway_http(args.gateway_from),
    }
    return report(asdict(plan_), machine, results, table, shadow)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s runs: a smoke test (~40 s)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each measured run")
    parser.add_argument(
        "--no-pin-servers", action="store_true", help="leave the servers on any core"
    )
    parser.add_argument(
        "--json", action="store_true", help="the table to stderr, a JSON document to stdout"
    )
    parser.add_argument(
        "--gateway-from",
        type=Path,
        default=REPO,
        metavar="DIR",
        help="a directory holding the `gateway` package to measure (default: this repo)",
    )
    args = parser.parse_args()
    args.gateway_from = args.gateway_from.resolve()

    wrk_binary, nginx = shutil.which("wrk"), find_nginx()
    missing = [name for name, found in (("wrk", wrk_binary), ("nginx", nginx)) if not found]
    if missing or wrk_binary is None or nginx is None:
        print(f"gateway_proxy: {' and '.join(missing)} not found; {INSTALL}", file=sys.stderr)
        return 2

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through Children.__exit__

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    started = time.monotonic()
    try:
        result = run(args, wrk_binary, nginx)
    except BenchError as exc:
        print(f"gateway_proxy: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gateway_proxy: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    table = render(result) + f"\n\n(total {result['elapsed_s']} s)"
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
