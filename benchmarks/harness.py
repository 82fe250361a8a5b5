"""Benchmark plumbing: child processes in their own groups, free ports, and wrk runs."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# wrk's own summary is for people; this prints one line the harness can parse.
WRK_DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class BenchError(RuntimeError):
    """A child process died or never answered, or wrk failed; the message says which and why."""


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def exited(self) -> bool:
        """Whether the leader ended, without reaping it: its pid, the group id, stays ours."""
        try:
            found = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True  # already reaped
        return found is not None

    def cpu_seconds(self) -> float:
        """User + system CPU of every process in the child's group (Linux /proc), else 0."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process ended between listing and reading
            if int(fields[2]) == self.process.pid:  # the process group id
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


class Children:
    """Every process the benchmark starts, each in its own process group, stopped on exit.

    A new session per child means Ctrl-C reaches only the benchmark, which then stops the
    groups itself: gunicorn's workers and nginx's workers go with their masters.
    """

    def __init__(self, log_dir: Path, cpu: int | None) -> None:
        self._log_dir = log_dir
        self._cpu = cpu
        self._children: list[Child] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, cpu: int | None = None
    ) -> Child:
        """`cpu`: pin this child there instead of on the servers' core."""
        cpu = self._cpu if cpu is None or self._cpu is None else cpu
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        log = self._log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, process, log)
        self._children.append(child)
        return child

    def wait_ready(self, child: Child, url: str, timeout_s: float = 30.0) -> None:
        """Until `url` answers 200; a child that exits or stays silent is a BenchError."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.exited():
                raise BenchError(f"{child.name} exited early:\n{child.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 -- loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise BenchError(f"{child.name} did not answer {url} in {timeout_s} s:\n{child.log_tail()}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by every child still running."""
        return sum(child.cpu_seconds() for child in self._children)

    def casualties(self) -> str:
        """The end of the log of every child that has exited, for an error message."""
        return "\n".join(
            f"{child.name} exited; its log ends:\n{child.log_tail()}"
            for child in self._children
            if child.exited()
        )

    def stop_all(self, grace_s: float = 6.0) -> None:
        """SIGTERM every group at once, then SIGKILL whatever is left after `grace_s`."""
        for child in self._children:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self._children:
            while not child.exited() and time.monotonic() < deadline:
                time.sleep(0.02)
            # The leader is not reaped yet (a zombie at worst), so the group id cannot have
            # been reused: this reaches only stragglers of our own group.
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
        self._children.clear()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_exc: object) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGINT, previous)


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, sig)


@dataclass(frozen=True)
class WrkResult:
    connections: int
    requests: int
    duration_s: float
    socket_errors: int  # connect, read, write and timeouts
    bad_status: int  # responses with status >= 400 (wrk's "Non-2xx or 3xx")
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


@dataclass(frozen=True)
class Wrk:
    """wrk with one thread, optionally pinned to one core, reporting through WRK_DONE_LUA."""

    binary: str
    script: Path
    cpu: int | None

    def run(self, url: str, connections: int, seconds: int) -> WrkResult:
        argv = [self.binary, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(self.script)]
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu), *argv]
        done = subprocess.run(
            [*argv, url], capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
        if done.returncode != 0 or line is None:
            raise BenchError(f"wrk failed on {url}: {done.stdout}{done.stderr}")
        n = [int(x) for x in line.split()[1:]]
        return WrkResult(
            connections=connections,
            requests=n[0],
            duration_s=n[1] / 1e6,
            socket_errors=n[2] + n[3] + n[4] + n[5],
            bad_status=n[6],
            p50_ms=n[7] / 1000,
            p99_ms=n[8] / 1000,
            max_ms=n[9] / 1000,
        )


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs from /proc/stat; steal counts as busy."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    total = sum(values)
    return total - values[3] - values[4], total  # less idle and iowait


def busy_share(seconds: float = 1.0) -> float | None:
    """The share of all CPUs busy over `seconds`, sampled before the benchmark loads them."""
    before = _cpu_jiffies()
    time.sleep(seconds)
    after = _cpu_jiffies()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


class ForeignLoad:
    """The share of the CPUs that something other than the benchmark used while it ran.

    All busy time (hypervisor steal included) less the CPU time of the benchmark, its
    children still running (read by the caller) and its reaped ones (every wrk run).
    """

    def __init__(self) -> None:
        self._start = _cpu_jiffies()
        self._ours = self._own_cpu()

    @staticmethod
    def _own_cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime

    def share(self, running_children_cpu_s: float) -> float | None:
        end = _cpu_jiffies()
        if self._start is None or end is None or end[1] <= self._start[1]:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy_s = (end[0] - self._start[0]) / tick
        ours = self._own_cpu() - self._ours + running_children_cpu_s
        return max(0.0, busy_s - ours) / ((end[1] - self._start[1]) / tick)


def find_nginx() -> str | None:
    """nginx on PATH, or in /usr/sbin (not on PATH for every user)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
