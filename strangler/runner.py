"""Start, watch and stop the stack's processes; each part runs in a process group of its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from rq import Queue, Worker
from rq.scheduler import RQScheduler

from new_services.platform.workers import WORKER_TTL_S
from strangler import private, schema
from strangler.parts import Part, ensure_secrets, plan
from strangler.settings import Settings, shown

RESTARTS, RESTARTS_WITHIN_S = 5, 300.0  # `watch` gives up on a part that keeps dying


class RunnerError(RuntimeError):
    """The stack could not be started as asked; the message says which part and why."""


@dataclass(frozen=True)
class PartStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    log: str


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def is_healthy(target: str, timeout: float = 1.0) -> bool:
    """`target`: an http(s) URL that answers 200; a redis:// URL that answers PING;
    `redis://...#workers:QUEUE`, healthy while an RQ worker on QUEUE heartbeats; or
    `redis://...#key:KEY`, healthy while KEY exists (a heartbeat)."""
    try:
        if target.startswith("redis"):
            url, _, fragment = target.partition("#")
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            try:
                if fragment.startswith("workers:"):
                    # a registration outlives its worker (RQ keeps it a minute past its
                    # last heartbeat): only a heartbeat within WORKER_TTL_S counts
                    queue = Queue(fragment.removeprefix("workers:"), connection=client)
                    fresh = datetime.now(UTC) - timedelta(seconds=WORKER_TTL_S)
                    return any(
                        w.last_heartbeat is not None and w.last_heartbeat > fresh
                        for w in Worker.all(queue=queue)
                    )
                if fragment.startswith("key:"):
                    return bool(client.exists(fragment.removeprefix("key:")))
                return bool(client.ping())
            finally:
                client.close()
        return httpx.get(target, timeout=timeout).status_code == 200
    except (httpx.HTTPError, redis.RedisError, OSError):
        return False


PROC = Path("/proc")


def _stat(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and process group, from Linux's /proc (None: gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[2])


def _alive(pid: int) -> bool:
    """The process itself runs (a zombie does not: it is dead, only not yet reaped)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # our own child: reap it if it died
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not PROC.is_dir():
        return True  # no /proc (macOS): kill(0) is all there is
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """Some process of the group runs. Zombies do not count: a part's dead leader stays one
    until its parent reaps it, which a test that started the stack may never do."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(-pgid, os.WNOHANG)  # reap our own children, or they stay as zombies
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not PROC.is_dir():
        return True
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(entry.name)
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                return True
    return False


def _take_over_queue(health: str) -> None:
    """Before a worker part starts, none of its processes runs, so what they held on their
    queue is a dead worker's, and is taken back at once rather than when RQ's timeouts say:

    - the scheduler lock (RQ lets it stand 61 s after the last heartbeat, and every delayed
      retry waits with it);
    - the jobs they had started (RQ retries them after their lease and the next clean-up):
      retried now, as RQ's clean-up would, retries counted;
    - the jobs they had taken off the queue and not started yet (RQ: after a minute)."""
    url, _, fragment = health.partition("#")
    if not url.startswith("redis") or not fragment.startswith("workers:"):
        return
    name = fragment.removeprefix("workers:")
    with contextlib.suppress(redis.RedisError, OSError):
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
        try:
            client.delete(RQScheduler.get_locking_key(name))
            queue = Queue(name, connection=client)
            queue.started_job_registry.cleanup(timestamp=time.time() + 365 * 24 * 3600)
            for job_id in queue.intermediate_queue.get_job_ids():
                queue.intermediate_queue.remove(job_id)
                job = queue.fetch_job(job_id)
                if job is not None:
                    queue.enqueue_job(job, at_front=True)
        finally:
            client.close()


def check_ports(part: Part, host: str) -> None:
    own = f"STRANGLER_{part.name.upper().replace('-', '_')}_PORT"
    for index, port in enumerate(part.ports):
        if not port_is_free(host, port):
            # the variable that moves this port: mail's second port is STRANGLER_SMTP_PORT
            variable = part.port_variables[index] if part.port_variables else own
            raise RunnerError(
                f"{part.name}: port {port} on {host} is already in use; stop what holds it "
                f"or choose other ports (STRANGLER_PORT_BASE, {variable})"
            )


def spawn(part: Part, cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start one part in a new session (its own process group), output to `log_path`.

    What the part writes (its databases, Redis's files) and its log are private: its umask
    is `private.UMASK`, and its data folder is tightened if an older run left it readable."""
    for folder in (cwd, log_path.parent, part.data_dir):
        if folder is not None:
            private.private_folder(folder)
    if part.data_dir is not None:
        private.private_tree(part.data_dir)
    env = {**os.environ, **part.env, "PYTHONUNBUFFERED": "1"}
    with os.fdopen(private.open_private_log(log_path), "ab") as log:
        return subprocess.Popen(
            part.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            umask=private.UMASK,
        )


def wait_healthy(
    part: Part, process: subprocess.Popen[bytes], timeout_s: float, log_path: Path
) -> None:
    """Return once the part answers its health check; RunnerError if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunnerError(
                f"{part.name} exited with code {process.returncode} while starting; "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        if is_healthy(part.health):
            return
        time.sleep(0.1)
    raise RunnerError(
        f"{part.name} did not become healthy within {timeout_s:.0f} s; "
        f"last lines of {log_path}:\n{_tail(log_path)}"
    )


def stop_group(pgid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the part's own process (the group's leader), SIGKILL whatever of its group is
    left after `grace_s`, wait until all is gone: systemd's `KillMode=mixed`.

    The leader stops its children its own way (gunicorn's arbiter, RQ's worker pool, a
    worker's scheduler). A SIGTERM to every process at once raced those: a pool's worker
    got the group's signal and the pool's own within the same instant, lost the stop
    request, and sat in a blocking Redis read until the SIGKILL, ten seconds later."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        while _group_alive(pgid):
            time.sleep(0.05)


@contextlib.contextmanager
def running(part: Part, home: Path, timeout_s: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """One part as a managed process for the length of a `with` block (tests, benchmarks)."""
    check_ports(part, "127.0.0.1")
    log_path = home / "logs" / f"{part.name}.log"
    process = spawn(part, home, log_path)
    try:
        wait_healthy(part, process, timeout_s, log_path)
        yield process
    finally:
        stop_group(process.pid)
        process.wait()


class Stack:
    """The local stack under one home folder: `up`, `down`, `status`."""

    def __init__(self, settings: Settings, say: Callable[[str], None] = lambda _: None) -> None:
        self.settings = settings
        self.say = say
        self._children: dict[str, subprocess.Popen[bytes]] = {}  # started by this object
        self.skipped: list[str] = []  # parts `up` left down, and said why

    def _state_file(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.json"

    def _read_state(self, name: str) -> dict[str, object] | None:
        path = self._state_file(name)
        if not path.exists():
            return None
        try:
            state: dict[str, object] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return state

    def _state_pid(self, name: str) -> int | None:
        state = self._read_state(name)
        pid = state.get("pid") if state else None
        return pid if isinstance(pid, int) else None

    def _running_pid(self, name: str) -> int | None:
        """The part's own process, if it runs. A part whose process died is not running,
        whatever it left behind in its group (an RQ scheduler, a pool's workers, gunicorn's
        threads' children): `up` stops those and starts the part afresh."""
        pid = self._state_pid(name)
        if pid is not None and _alive(pid):
            return pid
        if pid is None or not _group_alive(pid):
            if pid is not None:  # it died without being stopped: `watch` brings it back
                self._crashed_file(name).touch()
            self._state_file(name).unlink(missing_ok=True)
        return None

    def _crashed_file(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.crashed"

    def _retired_file(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.retired"

    def _clear_leftovers(self, name: str) -> None:
        """Stop what a part whose own process died left running in its group."""
        pid = self._state_pid(name)
        if pid is not None and not _alive(pid) and _group_alive(pid):
            self.say(f"{name}: its process {pid} died; stopping what it left running")
            # no leader is left to stop them its own way: each gets the SIGTERM
            # (a group's id is not reused while the group has members)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            stop_group(pid, grace_s=5)
        self._state_file(name).unlink(missing_ok=True)

    def up(self) -> list[PartStatus]:
        """Start every part not already running and wait until each is healthy."""
        for folder in (self.settings.home, self.settings.run_dir, self.settings.log_dir):
            private.private_folder(folder)
        ensure_secrets(self.settings, self.say)
        schema_ready = schema.prepare(self.settings, self.say)
        to_start, running_parts = [], []
        for part in plan(self.settings):
            if part.needs_schema and not schema_ready:
                self.skipped.append(part.name)
            elif self._retired_file(part.name).exists():
                self.say(f"{part.name}: retired (`strangler unretire {part.name}` starts it)")
                self.skipped.append(part.name)
            elif self._running_pid(part.name) is not None:
                self.say(f"{part.name}: already running at {part.url}")
                running_parts.append(part)
            else:
                self._clear_leftovers(part.name)
                to_start.append(part)
        for part in to_start:  # every port first: a taken one stops `up` before anything starts
            check_ports(part, self.settings.host)
        started: list[str] = []
        try:
            for part in to_start:
                self._start(part)
                started.append(part.name)
        except BaseException:
            for name in reversed(started):
                self.stop(name)
            raise
        # a part that was running may be catching up (a worker or the relay reconnecting to
        # a Redis that just restarted): give it the time a starting part gets
        deadline = time.monotonic() + self.settings.start_timeout_s
        for part in running_parts:
            while not is_healthy(part.health) and time.monotonic() < deadline:
                time.sleep(0.2)
            if part.name == "redis" and self.settings.embedded_redis_password:
                self._warn_if_open(part)
        return self.status()

    def _warn_if_open(self, redis_part: Part) -> None:
        """A Redis an older runner started answers without the password this one made:
        `up` leaves a running part alone, so it says so rather than leave it open."""
        with contextlib.suppress(redis.RedisError, OSError):
            client = redis.Redis.from_url(redis_part.url, socket_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
            self.say(
                "warning: the stack's Redis answers without a password (an older `strangler "
                "up` started it): run `strangler down` and `strangler up` to restart it with one"
            )

    def _start(self, part: Part) -> None:
        check_ports(part, self.settings.host)
        self._crashed_file(part.name).unlink(missing_ok=True)
        _take_over_queue(part.health)
        log_path = self.settings.log_dir / f"{part.name}.log"
        died = self._children.pop(part.name, None)
        if died is not None:
            died.poll()  # a child this object started that died since: reaped, not leaked
        process = spawn(part, self.settings.home, log_path)
        self._children[part.name] = process
        state = {
            "pid": process.pid,
            "url": part.url,
            "health": shown(part.health),  # a Redis URL's password stays in the part's env
            "argv": list(part.argv),
        }
        self._state_file(part.name).write_text(json.dumps(state))
        try:
            wait_healthy(part, process, self.settings.start_timeout_s, log_path)
        except RunnerError:
            self.stop(part.name)
            raise
        self.say(f"{part.name}: up at {part.url} (pid {process.pid})")

    def retire(self, name: str) -> bool:
        """Stop one part for good: `up` leaves it down until `start` (False if not running)."""
        self._retired_file(name).touch()
        return self.stop(name)

    def start(self, name: str) -> bool:
        """Start one part `stop` or `retire` stopped (and wait until it is healthy); False if
        it runs."""
        part = next((p for p in plan(self.settings) if p.name == name), None)
        if part is None:
            raise RunnerError(f"no part named {name!r}")
        self._retired_file(name).unlink(missing_ok=True)
        if self._running_pid(name) is not None:
            return False
        self._clear_leftovers(name)
        self._start(part)
        return True

    def down(self) -> list[str]:
        """Stop every part this home's runner started, children included; return their names."""
        stopped = []
        names = [part.name for part in plan(self.settings)]
        extra = sorted(p.stem for p in self.settings.run_dir.glob("*.json") if p.stem not in names)
        for name in reversed(names + extra):
            if self.stop(name):
                stopped.append(name)
        return stopped

    def stop(self, name: str, grace_s: float = 10.0) -> bool:
        """Stop one part, children included (`up` starts it again); False if it was not running."""
        pid = self._running_pid(name)
        self._crashed_file(name).unlink(missing_ok=True)  # stopped on purpose: stays down
        if pid is None:
            self._clear_leftovers(name)
            return False
        self._state_file(name).unlink(missing_ok=True)  # first, so `watch` leaves it down
        stop_group(pid, grace_s)
        child = self._children.pop(name, None)
        if child is not None:
            child.wait()  # already reaped; this just tells Popen so
        self.say(f"{name}: stopped")
        return True

    def watch(self, every_s: float = 1.0, keep_on: Callable[[], bool] = lambda: True) -> None:
        """Supervise the stack until `keep_on()` is false: a part whose own process died
        without being stopped (`down`, `stop`) is started again, as `up` would, after what
        it left is stopped. One that dies more than RESTARTS times in RESTARTS_WITHIN_S is
        left down, with its log named."""
        parts = {part.name: part for part in plan(self.settings)}
        deaths: dict[str, list[float]] = {}
        while keep_on():
            for name, part in parts.items():
                pid = self._state_pid(name)
                crashed = (pid is not None and not _alive(pid)) or self._crashed_file(name).exists()
                if not crashed:
                    continue
                now = time.monotonic()
                recent = [t for t in deaths.get(name, []) if now - t < RESTARTS_WITHIN_S]
                deaths[name] = [*recent, now]
                self._clear_leftovers(name)
                self._crashed_file(name).unlink(missing_ok=True)
                if len(recent) >= RESTARTS:
                    log = self.settings.log_dir / f"{name}.log"
                    self.say(f"{name}: died {len(recent) + 1} times in a row; left down ({log})")
                    continue
                self.say(f"{name}: its process died; starting it again")
                try:
                    self._start(part)
                except RunnerError as exc:
                    self.say(f"error: {exc}")
            time.sleep(every_s)

    def pids(self) -> dict[str, int]:
        """The running parts' own process ids (each leads its part's process group)."""
        found = {part.name: self._running_pid(part.name) for part in plan(self.settings)}
        return {name: pid for name, pid in found.items() if pid is not None}

    def status(self) -> list[PartStatus]:
        result = []
        for part in plan(self.settings):
            pid = self._running_pid(part.name)
            result.append(
                PartStatus(
                    name=part.name,
                    url=part.url,
                    pid=pid,
                    running=pid is not None,
                    healthy=pid is not None and is_healthy(part.health),
                    log=str(self.settings.log_dir / f"{part.name}.log"),
                )
            )
        return result

    def urls(self) -> dict[str, str]:
        return {part.name: part.url for part in plan(self.settings)}


def status_json(statuses: list[PartStatus]) -> str:
    return json.dumps([asdict(s) for s in statuses], indent=2)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
