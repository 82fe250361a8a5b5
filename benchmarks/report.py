"""The benchmark's figures: targets, the machine-readable result and the printed table."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

from harness import WrkResult

# The targets the gateway is held to; NGINX is measured against the same ones for scale.
MIN_RATIO = {"starlette": 0.20, "legacy": 0.40}
MAX_ADDED_P50_MS = 0.20
MAX_P99_MS = 30.0
ROUTE_TABLE_TOLERANCE = 0.05
SHADOW_P99_TOLERANCE = 0.10  # shadow mode's p99 at 32 connections against legacy mode's
BUSY_WARNING = 0.10  # other load on the machine before the run, above which figures are noise


@dataclass
class Measured:
    backend: str
    via: str  # direct | gateway | aiohttp (the gateway on aiohttp's client) | nginx
    busy: WrkResult  # 32 connections
    idle: WrkResult  # 1 connection
    proxy_cpu_us_per_req: float | None


@dataclass
class Loaded:
    busy: WrkResult  # 32 connections
    proxy_cpu_s: float  # the gateway's CPU time over the run


@dataclass
class ShadowFigure:
    legacy_mode: list[Loaded]  # runs, alternating with shadow_mode's
    shadow_mode: list[Loaded]
    mirrors: dict[str, int]  # outcome -> count over the shadow runs (GET /parity, match etc.)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _runs_row(runs: list[Loaded]) -> dict[str, Any]:
    """Several runs of one gateway: percentiles are the mean of each run's, the rest totals."""
    busy = [r.busy for r in runs]
    requests = sum(b.requests for b in busy)
    seconds = sum(b.duration_s for b in busy)
    cpu_s = sum(r.proxy_cpu_s for r in runs)
    return {
        "rps_32": round(requests / seconds, 1) if seconds else 0.0,
        "p50_ms_32": round(_mean([b.p50_ms for b in busy]), 3),
        "p99_ms_32": round(_mean([b.p99_ms for b in busy]), 3),
        "p99_ms_32_runs": [b.p99_ms for b in busy],
        "max_ms_32": max((b.max_ms for b in busy), default=0.0),
        "requests": requests,
        "errors": sum(b.socket_errors for b in busy),
        "bad_status": sum(b.bad_status for b in busy),
        "proxy_cpu_us_per_req": round(cpu_s / requests * 1e6, 1) if requests else None,
        "raw": {"c32": [asdict(b) for b in busy]},
    }


def shadow_report(figure: ShadowFigure) -> dict[str, Any]:
    legacy, shadow = _runs_row(figure.legacy_mode), _runs_row(figure.shadow_mode)
    p99_ratio = shadow["p99_ms_32"] / legacy["p99_ms_32"] if legacy["p99_ms_32"] else 0.0
    clean = not (shadow["errors"] or shadow["bad_status"])
    return {
        "runs_per_mode": len(figure.shadow_mode),
        "legacy_mode": legacy,
        "shadow_mode": shadow,
        "p99_ratio": round(p99_ratio, 3),
        "rps_ratio": round(shadow["rps_32"] / legacy["rps_32"], 3) if legacy["rps_32"] else 0.0,
        "mirrors": {"requests": shadow["requests"], **figure.mirrors},
        "meets": p99_ratio <= 1 + SHADOW_P99_TOLERANCE and clean,
    }


def report(
    plan: dict[str, Any],
    machine: dict[str, Any],
    results: list[Measured],
    table: dict[int, float],
    shadow: ShadowFigure,
) -> dict[str, Any]:
    by = {(m.backend, m.via): m for m in results}
    rows = []
    for m in results:
        base = by[(m.backend, "direct")]
        row: dict[str, Any] = {
            "backend": m.backend,
            "via": m.via,
            "rps_32": round(m.busy.rps, 1),
            "p50_ms_1": m.idle.p50_ms,
            "p99_ms_32": m.busy.p99_ms,
            "max_ms_32": m.busy.max_ms,
            "errors": m.busy.socket_errors + m.idle.socket_errors,
            "bad_status": m.busy.bad_status + m.idle.bad_status,
            "proxy_cpu_us_per_req": (
                round(m.proxy_cpu_us_per_req, 1) if m.proxy_cpu_us_per_req is not None else None
            ),
            "raw": {"c32": asdict(m.busy), "c1": asdict(m.idle)},
        }
        if m.via != "direct":
            row["ratio"] = round(m.busy.rps / base.busy.rps, 3) if base.busy.rps else 0.0
            row["added_p50_ms"] = round(m.idle.p50_ms - base.idle.p50_ms, 3)
            row["meets"] = {
                "ratio": row["ratio"] >= MIN_RATIO[m.backend],
                "added_p50": row["added_p50_ms"] <= MAX_ADDED_P50_MS,
                "p99": m.busy.p99_ms <= MAX_P99_MS and not row["errors"] and not row["bad_status"],
            }
        rows.append(row)
    ratio = table[1000] / table[10] if table[10] else 0.0
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), **machine},
        "plan": plan,
        "targets": {
            "ratio_min": MIN_RATIO,
            "added_p50_ms_max": MAX_ADDED_P50_MS,
            "p99_ms_max_at_32": MAX_P99_MS,
            "route_table_tolerance": ROUTE_TABLE_TOLERANCE,
            "shadow_p99_tolerance": SHADOW_P99_TOLERANCE,
        },
        "rows": rows,
        "route_table": {
            "rps_10_routes": round(table[10], 1),
            "rps_1000_routes": round(table[1000], 1),
            "ratio": round(ratio, 3),
            "meets": abs(1 - ratio) <= ROUTE_TABLE_TOLERANCE,
        },
        "shadow": shadow_report(shadow),
    }


COLUMNS = (  # header, width; the first two are left-aligned
    ("backend", 9),
    ("via", 7),
    ("req/s@32", 8),
    ("x direct", 8),
    ("target", 10),
    ("p50@1 ms", 8),
    ("added ms", 8),
    ("target", 10),
    ("p99@32 ms", 9),
    ("target", 9),
    ("err/bad", 7),
    ("proxy us/req", 12),
)


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"


def verdict(limit: str, ok: bool) -> str:
    return f"{limit} {'ok' if ok else 'MISS'}"


def cells(row: dict[str, Any]) -> list[str]:
    """One table line; targets only on the proxied rows."""
    meets = row.get("meets")
    cpu = row["proxy_cpu_us_per_req"]
    return [
        row["backend"],
        row["via"],
        f"{row['rps_32']:.0f}",
        f"{row['ratio']:.2f}" if meets else "1.00",
        verdict(f">={MIN_RATIO[row['backend']]:.2f}", meets["ratio"]) if meets else "",
        f"{row['p50_ms_1']:.3f}",
        f"{row['added_p50_ms']:+.3f}" if meets else "",
        verdict(f"<={MAX_ADDED_P50_MS:.2f}", meets["added_p50"]) if meets else "",
        f"{row['p99_ms_32']:.2f}",
        verdict(f"<={MAX_P99_MS:.0f}", meets["p99"]) if meets else "",
        f"{row['errors']}/{row['bad_status']}",
        f"{cpu:.0f}" if cpu is not None else "",
    ]


def line(values: list[str]) -> str:
    return " ".join(
        value.ljust(width) if i < 2 else value.rjust(width)
        for i, (value, (_, width)) in enumerate(zip(values, COLUMNS, strict=True))
    )


def shadow_lines(shadow: dict[str, Any]) -> list[str]:
    """The shadow figure: both modes, their ratio, and what the mirrors came to."""
    runs = shadow["runs_per_mode"]

    def mode(label: str, row: dict[str, Any]) -> str:
        cpu = "?" if row["proxy_cpu_us_per_req"] is None else f"{row['proxy_cpu_us_per_req']:.0f}"
        each = ", ".join(f"{p99:.1f}" for p99 in row["p99_ms_32_runs"])
        return (
            f"  {label:26} {row['rps_32']:6.0f} req/s  p50 {row['p50_ms_32']:6.2f} ms"
            f"  p99 {row['p99_ms_32']:6.2f} ms ({each})"
            f"  err/bad {row['errors']}/{row['bad_status']}  gateway {cpu} us/req"
        )

    m = shadow["mirrors"]
    outcomes = sum(m[k] for k in ("match", "mismatch", "candidate_error", "dropped"))
    limit = f"target <= {1 + SHADOW_P99_TOLERANCE:.2f}"
    return [
        "shadow mode (starlette backend, GET /bench, a second starlette backend as extracted;",
        f"  32 connections, {runs} runs a mode, alternating; p50 and p99 are the runs' mean):",
        mode("legacy mode", shadow["legacy_mode"]),
        mode("shadow mode, 100% mirrored", shadow["shadow_mode"]),
        f"  p99 shadow / legacy {shadow['p99_ratio']:.3f} ({verdict(limit, shadow['meets'])});"
        f" throughput shadow / legacy {shadow['rps_ratio']:.2f}",
        f"  mirrors over the shadow runs (GET /parity): {m['match']} matched,"
        f" {m['mismatch']} mismatched, {m['candidate_error']} candidate errors,"
        f" {m['dropped']} dropped (queue full or gateway busy)",
        f"  = {outcomes} outcomes for the {m['requests']} requests wrk counted"
        " (it leaves up to 32 a run in flight uncounted)",
    ]


def render(result: dict[str, Any]) -> str:
    plan_, machine, table = result["plan"], result["machine"], result["route_table"]
    servers = (
        "unpinned"
        if plan_["server_cpu"] is None
        else f"on core {plan_['server_cpu']} (the shadow candidate beside wrk)"
    )
    out = [
        f"gateway benchmark: {plan_['seconds']} s per run after a {plan_['warmup_s']} s warm-up;"
        f" wrk -t1 on core {plan_['wrk_cpu']}, servers {servers}; {machine['cpus']} CPUs;"
        f" gateway's uvicorn parser {machine['gateway_http']};"
        f" python {machine['python']}",
        f"other load on the CPUs: {_share(machine['busy_before'])} just before,"
        f" {_share(machine['foreign_load'])} while measuring"
        + (
            " -- WARNING: the figures are noisy, run again on a quiet machine"
            if max(machine["busy_before"] or 0, machine["foreign_load"] or 0) > BUSY_WARNING
            else ""
        ),
        "",
        line([header for header, _ in COLUMNS]),
        *(line(cells(row)) for row in result["rows"]),
        "",
        "route table size (starlette backend, GET /bench matches no route, 32 connections):",
        f"  10 routes {table['rps_10_routes']:.0f} req/s, 1,000 routes"
        f" {table['rps_1000_routes']:.0f} req/s: ratio {table['ratio']:.3f}"
        f" ({verdict(f'target 1 +/- {ROUTE_TABLE_TOLERANCE}', table['meets'])})",
        "",
        *shadow_lines(result["shadow"]),
        "",
        "err/bad: socket errors / answers >= 400 over both runs;"
        " proxy us/req: CPU time of the gateway or NGINX per request at 32 connections.",
        "via aiohttp: the same gateway with GATEWAY_HTTP_CLIENT=aiohttp, the client it had"
        " before its own (gateway/http1.py).",
    ]
    return "\n".join(out)
