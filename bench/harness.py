#!/usr/bin/env python3
"""Benchmark harness: our service vs Better Auth (auth), FastAPI (tasks) and a pgbench floor.

Run it through `bench/run`, which installs the pinned tools first. Standard library only.
Method, scenarios and caveats: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "lua" / "bench.lua"
BA_DIR = BENCH / "baselines" / "betterauth"
FA_DIR = BENCH / "baselines" / "fastapi"
VENV = BENCH / ".venv"
OURS_BIN = Path(os.environ.get("BENCH_API_BIN", ROOT / "target" / "release" / "api"))

SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"  # loopback-only throwaway
COOKIE = "better-auth.session_token"
PASSWORD = "bench-password-1234"

AUTH_SCENARIOS = ["getsession-cookie", "getsession-bearer", "signin"]
TASK_SCENARIOS = ["tasks-get", "tasks-list", "tasks-create", "tasks-patch"]
# Ours only (no baseline has them): a first incremental sync page of 100 changes.
SYNC_SCENARIOS = ["tasks-changes"]
# Ours only: live-update fan-out (--fanout-*): SSE streams over several users, a writer at a fixed
# rate, delivery latency and delivered/expected events (FanOut below).
EVENT_SCENARIOS = ["tasks-events"]
ALL_SCENARIOS = AUTH_SCENARIOS + TASK_SCENARIOS + SYNC_SCENARIOS + EVENT_SCENARIOS + ["mixed", "storm"]
ALL_SYSTEMS = ["ours", "betterauth", "fastapi", "pgbench"]
# Scenarios whose pgbench floor runs the statements captured from our service (PgCapture).
FLOOR_CAPTURED = ["tasks-get", "tasks-list", "tasks-create", "tasks-changes"]

# Variants of our service: the same binary with settings changed, started next to ours-pg on the
# same database (the seeded users, sessions and tasks serve both), measured in the same rounds on
# the listed scenarios and reported against ours-pg with its defaults ("vs default"). Add a
# variant here when an issue lands a setting worth its on/off comparison. (The JWT header has its
# own switch, --jwt-header, which runs the variant on its own database.)
VARIANTS: dict[str, dict] = {
    "limiter-on": {"env": {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_STORAGE": "database",
                           "RATE_LIMIT_WINDOW": "1", "RATE_LIMIT_MAX": "1000000", "TRUSTED_PROXIES": "127.0.0.1/32"},
                   "scenarios": ["getsession-cookie", "getsession-bearer", "signin"],
                   "what": "rate limiter on and shared through PostgreSQL (issues 13, 14): get-session under a "
                           "general limit never reached (1,000,000 per second, counted locally and flushed to the "
                           "rateLimit table once a second); sign-in from SIGNIN_ADDRESSES client addresses "
                           "(X-Forwarded-For, trusted here), so the sign-in rule (3 per 10 s per address) counts "
                           "every attempt in the table without refusing one, and the per-account throttle "
                           "claims and clears each: the cost of the bookkeeping (the default runs with it off)"},
    "metrics-on": {"env": {"METRICS_BIND": "127.0.0.1:0"},
                   "scenarios": ["getsession-cookie", "getsession-bearer"],
                   "what": "Prometheus metrics served on a separate address (issue 18; never scraped during the "
                           "run): the cost of counting each request, its latency and the pool's acquire waits "
                           "(the default runs with metrics off)"},
    "generic-build": {"env": {"CPU_SPECIFIC_BUILD": "false"},
                      "scenarios": ["signin"],
                      "what": "the generic x86-64 build (`CPU_SPECIFIC_BUILD=false`, issue 19): on a CPU with AVX-512 "
                              "the default runs the x86-64-v4 build beside the binary (scripts/build-x86-64-v4), "
                              "whose password hash is faster on some CPUs; elsewhere both rows are the same build"},
    "reads-pool": {"env": {"DB_READ_CONNECTIONS": "0"},
                   "scenarios": ["tasks-get", "tasks-list"],
                   "what": "task reads through sea-orm's pool (`DB_READ_CONNECTIONS=0`, issue 19): two round "
                           "trips per read, since sqlx checks every connection it takes back with a second one (the "
                           "default keeps up to 4 pool connections for the reads while busy: one round trip per read)"},
}

# Client addresses our sign-in requests come from (`X-Forwarded-For`, one per line, users cycled):
# with the limiter on (variant `limiter-on`, which trusts the header) each address comes back once
# per pass over the list, far more than the sign-in rule's 10 s apart at any sign-in rate this
# machine reaches, so the rule counts every attempt and refuses none. Ignored with it off (the
# header is not trusted there).
SIGNIN_ADDRESSES = 4096

# Mixed workload: what one signed-in SPA user does (weights in percent).
MIX = [("getsession-bearer", 40), ("tasks-list", 30), ("tasks-get", 10), ("tasks-create", 10), ("tasks-patch", 10)]

# Targets from issues 6 and 19, checked against the medians (ours on PostgreSQL).
TARGETS = {
    "getsession-cookie": {"vs_baseline": 20.0, "vs_floor": 0.5, "p99_ms": 10.0},
    "getsession-bearer": {"vs_baseline": 20.0, "vs_floor": 0.5, "p99_ms": 10.0},
    "tasks-get": {"vs_baseline": 20.0, "vs_floor": 0.3},
    "tasks-list": {"vs_baseline": 15.0, "vs_floor": 0.3},
    "tasks-create": {"vs_baseline": 10.0},
    # sign-in: ok/s >= 90 % of (cores / time of one scrypt hash, measured by the scrypt_time example)
    "signin": {"vs_hash_capacity": 0.9, "vs_baseline": 1.0},
    # get-session probe while the sign-in storm runs
    "storm": {"p99_ms": 20.0, "peak_rss_mib": 128.0},
}
# Start-up and memory targets (ours on PostgreSQL).
STARTUP_TARGET_MS = 200.0
IDLE_RSS_TARGET_MIB = 20.0
HASH_TIMER = OURS_BIN.parent / "examples" / "scrypt_time"
# The same timer built for x86-64-v4 by `scripts/build-x86-64-v4 --release --example scrypt_time`.
HASH_TIMER_V4 = OURS_BIN.parent / "examples" / "scrypt_time-x86-64-v4"


def cpu_has_x86_64_v4() -> bool:
    """Whether this CPU has the AVX-512 features the x86-64-v4 build needs (as `api` checks)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    have = set(flags.split(":", 1)[1].split())
    return {"avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd", "avx2", "fma", "bmi2"} <= have


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_kb(pid: int, key: str) -> int:
    return sum(proc_status_kb(p, key) for p in process_tree(pid))


def reset_hwm(pid: int) -> bool:
    ok = True
    for p in process_tree(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def tree_cpu_ticks(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            f = stat[stat.rindex(")") + 2 :].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return sum(f) - idle, sum(f)


def busy_pct_over(seconds: float) -> float:
    b0, t0 = machine_ticks()
    time.sleep(seconds)
    b1, t1 = machine_ticks()
    return round(100.0 * (b1 - b0) / max(1, t1 - t0), 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return -1.0


# --------------------------------------------------------------------------- PostgreSQL


class Pg:
    def __init__(self, url: str):
        u = urllib.parse.urlparse(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 5432
        self.user = urllib.parse.unquote(u.username or "postgres")
        self.password = urllib.parse.unquote(u.password) if u.password else None

    def url(self, db: str, scheme: str = "postgres", port: Optional[int] = None) -> str:
        auth = urllib.parse.quote(self.user)
        if self.password:
            auth += ":" + urllib.parse.quote(self.password)
        host = "127.0.0.1" if port else self.host
        return f"{scheme}://{auth}@{host}:{port or self.port}/{db}"

    def env(self) -> dict:
        e = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        if self.password:
            e["PGPASSWORD"] = self.password
        return e

    def libpq_env(self) -> dict:
        """Settings for libpq clients (pgbench, psycopg2): every system talks to a loopback
        PostgreSQL the same way, without TLS (our service and node-postgres don't use it there,
        libpq would by default), unless PGSSLMODE is set explicitly."""
        e = {}
        if self.host in ("127.0.0.1", "localhost", "::1") and "PGSSLMODE" not in os.environ:
            e["PGSSLMODE"] = "disable"
        return e

    def psql(self, sql: str, db: str = "postgres") -> str:
        r = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
            env=self.env(), capture_output=True, text=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {sql[:80]}: {r.stderr.strip()}")
        return r.stdout.strip()

    def fresh_db(self, db: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{db}"')

    def drop_db(self, db: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str            # system key: ours-pg, ours-sqlite, betterauth, fastapi
    kind: str            # ours | betterauth | fastapi
    db: str              # pg | sqlite
    cmd: list[str]
    env: dict
    cwd: Path
    port: int
    probe_path: str
    ready_pattern: Optional[str]
    ready_count: int = 1
    dbname: Optional[str] = None
    sqlite_file: Optional[Path] = None
    variant_of: Optional[str] = None  # a variant (VARIANTS) shares this server's database and requests
    proc: Optional[subprocess.Popen] = None
    logfile: Optional[Path] = None
    facts: dict = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, logdir: Path, label: str, timeout: float = 120.0) -> dict:
        """Start, wait until it answers HTTP (and prints its ready line); return timings."""
        self.logfile = logdir / f"{self.name}.{label}.log"
        out = open(self.logfile, "w")
        pattern = re.compile(self.ready_pattern) if self.ready_pattern else None
        seen = {"n": 0, "t": None}
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, text=True, errors="replace",
        )

        def reader(proc=self.proc):
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if pattern and seen["t"] is None and pattern.search(line):
                    seen["n"] += 1
                    if seen["n"] >= self.ready_count:
                        seen["t"] = time.monotonic()
            out.close()

        threading.Thread(target=reader, daemon=True).start()
        http_t = None
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if http_t is None:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                    c.request("GET", self.probe_path)
                    c.getresponse().read()
                    c.close()
                    http_t = time.monotonic()
                except OSError:
                    pass
            if http_t is not None and (pattern is None or seen["t"] is not None):
                break
            if http_t is not None and time.monotonic() - http_t > 3.0:
                break  # answers HTTP but never printed the ready line
            time.sleep(0.005)
        if self.proc.poll() is not None or http_t is None:
            rc = self.proc.poll()
            self.stop()
            time.sleep(0.1)  # let the reader thread flush the log
            tail = self.log_tail()
            last = tail.splitlines()[-1].strip() if tail.strip() else "no output"
            state = f"exited with {rc}" if rc is not None else f"no HTTP answer within {timeout:.0f} s"
            raise RuntimeError(f"{self.name} did not start ({state}): {last[:300]}\nlog tail ({self.logfile}):\n{tail}")
        return {
            "to_http_ms": round((http_t - t0) * 1000, 1),
            "to_log_ms": round((seen["t"] - t0) * 1000, 1) if seen["t"] else None,
        }

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the server's process group (its own session, started by us), wait for every
        member (cluster and uvicorn workers included), SIGKILL what is left after 15 s."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None

    def wait_quiet(self, max_s: float = 30.0, busy_pct: float = 5.0) -> float:
        """Wait until the server tree uses < busy_pct of a core (e.g. a sign-in backlog drained)."""
        if not self.alive():
            return 0.0
        hz = os.sysconf("SC_CLK_TCK")
        t0 = time.monotonic()
        prev = tree_cpu_ticks(self.pid)
        while time.monotonic() - t0 < max_s:
            time.sleep(0.3)
            cur = tree_cpu_ticks(self.pid)
            if (cur - prev) / hz / 0.3 * 100 < busy_pct:
                break
            prev = cur
        return time.monotonic() - t0


def make_servers(args, pg: Pg, rundir: Path) -> list[Server]:
    servers = []
    if "ours" in args.systems:
        # --jwt-header: our service as configured by default (get-session adds `set-auth-jwt`),
        # without the header (JWT_SESSION_HEADER=false, system `ours-<db>-nojwt`), or both, each
        # on its own database, to measure what signing a JWT per get-session costs.
        variants = {"on": [""], "off": ["-nojwt"], "both": ["", "-nojwt"]}[args.jwt_header]
        for db in args.db:
            for variant in variants:
                port = free_port()
                stem = f"ours{variant.replace('-', '_')}"
                if db == "pg":
                    dbname, url, sqlite_file = f"bench_{stem}", pg.url(f"bench_{stem}"), None
                else:
                    sqlite_file = rundir / f"{stem}.sqlite3"
                    dbname, url = None, f"sqlite://{sqlite_file}?mode=rwc"
                env = dict(os.environ, APP_ENV="production", BIND="127.0.0.1", PORT=str(port), DATABASE_URL=url,
                           AUTH_SECRET=SECRET, RATE_LIMIT_ENABLED="false", RUST_LOG=args.rust_log, LOG_FORMAT="json",
                           JWT_SESSION_HEADER="false" if variant else "true",
                           # creates (ours and the create floor's) add thousands of tasks per owner
                           TASKS_PER_USER_LIMIT="10000000")
                env.pop("BETTER_AUTH_SECRET", None)
                servers.append(Server(
                    name=f"ours-{db}{variant}", kind="ours", db=db, cmd=[str(OURS_BIN)], env=env, cwd=rundir,
                    port=port, probe_path="/api/auth/ok", ready_pattern=rf"listening on http://127\.0\.0\.1:{port}",
                    dbname=dbname, sqlite_file=sqlite_file,
                ))
                for v in (args.variants if db == "pg" and not variant else []):
                    vport = free_port()
                    servers.append(Server(
                        name=f"ours-pg+{v}", kind="ours", db=db, cmd=[str(OURS_BIN)],
                        env=dict(env, PORT=str(vport), **VARIANTS[v]["env"]), cwd=rundir, port=vport,
                        probe_path="/api/auth/ok", ready_pattern=rf"listening on http://127\.0\.0\.1:{vport}",
                        variant_of="ours-pg"))
    if "betterauth" in args.systems:
        port = free_port()
        env = dict(os.environ, BIND="127.0.0.1", PORT=str(port), DATABASE_URL=pg.url("bench_betterauth"),
                   BETTER_AUTH_SECRET=SECRET, BA_WORKERS=str(args.ba_workers), NODE_ENV="production")
        servers.append(Server(
            name="betterauth", kind="betterauth", db="pg", cmd=["node", "server.mjs"], env=env, cwd=BA_DIR,
            port=port, probe_path="/api/auth/ok", ready_pattern=rf"listening on http://127\.0\.0\.1:{port}",
            dbname="bench_betterauth",
        ))
    if "fastapi" in args.systems:
        port = free_port()
        env = dict(os.environ, DATABASE_URL=pg.url("bench_fastapi", "postgresql+psycopg2"), **pg.libpq_env())
        servers.append(Server(
            name="fastapi", kind="fastapi", db="pg",
            cmd=[str(VENV / "bin" / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(args.fastapi_workers), "--no-access-log", "--log-level", "info"],
            env=env, cwd=FA_DIR, port=port, probe_path="/health",
            ready_pattern=r"Application startup complete", ready_count=args.fastapi_workers, dbname="bench_fastapi",
        ))
    return servers


# --------------------------------------------------------------------------- HTTP seeding


class Client:
    def __init__(self, port: int):
        self.port = port
        self.conn: Optional[http.client.HTTPConnection] = None

    def call(self, method: str, path: str, body=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                return r.status, r.msg, payload
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)


_local = threading.local()


def client_for(port: int) -> Client:
    c = getattr(_local, "clients", None)
    if c is None:
        c = _local.clients = {}
    if port not in c:
        c[port] = Client(port)
    return c[port]


def pmap(fn: Callable, items: list, workers: int = 8) -> list:
    with cf.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items))


def session_cookie(msg) -> Optional[str]:
    for v in msg.get_all("Set-Cookie") or []:
        name, _, rest = v.partition("=")
        if name.strip() == COOKIE:
            value = rest.split(";", 1)[0]
            if value:
                return value
    return None


def seed_auth(server: Server, n_users: int) -> list[dict]:
    """Sign up n users through the HTTP API; keep each one's cookie and bearer token."""

    def sign_up(i: int) -> dict:
        email = f"bench-user-{i:05d}@example.com"
        status, msg, body = client_for(server.port).call(
            "POST", "/api/auth/sign-up/email", {"name": f"Bench User {i}", "email": email, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"{server.name}: sign-up {email} -> {status} {body[:200]!r}")
        data = json.loads(body)
        cookie = session_cookie(msg)
        bearer = msg.get("set-auth-token")
        if not cookie or not bearer:
            raise RuntimeError(f"{server.name}: sign-up gave no session cookie or set-auth-token header")
        return {"email": email, "password": PASSWORD, "user_id": data["user"]["id"], "cookie": cookie,
                "bearer": bearer}

    return pmap(sign_up, list(range(n_users)))


def seed_tasks(server: Server, owners: list[dict], per_user: int) -> list[dict]:
    """Create per_user tasks for each owner through the HTTP API; return {owner, id} rows."""
    auth = (lambda o: {"Authorization": f"Bearer {o['bearer']}"}) if server.kind == "ours" \
        else (lambda o: {"X-User-Id": o["user_id"]})
    jobs = [(o, k) for o in owners for k in range(per_user)]

    def create(job) -> dict:
        o, k = job
        status, _, body = client_for(server.port).call(
            "POST", "/api/v1/tasks", {"title": f"seed task {k}", "description": "seeded by bench"}, auth(o))
        if status not in (200, 201):
            raise RuntimeError(f"{server.name}: create task -> {status} {body[:200]!r}")
        return {"owner": o, "id": json.loads(body)["id"]}

    return pmap(create, jobs)


# --------------------------------------------------------------------------- request files


def tsv_line(expect: str, method: str, path: str, body, headers: dict) -> str:
    b = "-" if body is None else json.dumps(body, separators=(",", ":"))
    parts = [expect, method, path, b]
    for k, v in headers.items():
        parts += [k, v]
    for p in parts:
        assert "\t" not in p and "\n" not in p, p
    return "\t".join(parts)


def build_requests(server: Server, data: dict, rng: random.Random) -> dict[str, list[str]]:
    reqs: dict[str, list[str]] = {}
    users = data.get("users") or []
    if server.kind in ("ours", "betterauth") and users:
        us = users[:]
        rng.shuffle(us)
        reqs["getsession-cookie"] = [tsv_line("session", "GET", "/api/auth/get-session", None,
                                              {"Cookie": f"{COOKIE}={u['cookie']}"}) for u in us]
        reqs["getsession-bearer"] = [tsv_line("session", "GET", "/api/auth/get-session", None,
                                              {"Authorization": f"Bearer {u['bearer']}"}) for u in us]
        if server.kind == "ours":
            reqs["signin"] = [tsv_line("2xx", "POST", "/api/auth/sign-in/email",
                                       {"email": u["email"], "password": u["password"]},
                                       {"X-Forwarded-For": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"})
                              for i, u in ((i, us[i % len(us)]) for i in range(max(SIGNIN_ADDRESSES, len(us))))]
        else:
            reqs["signin"] = [tsv_line("2xx", "POST", "/api/auth/sign-in/email",
                                       {"email": u["email"], "password": u["password"]}, {}) for u in us]
    tasks = data.get("tasks") or []
    if server.kind in ("ours", "fastapi") and tasks:
        if server.kind == "ours":
            def auth(o):
                return {"Authorization": f"Bearer {o['bearer']}"}
        else:
            def auth(o):
                return {"X-User-Id": o["user_id"]}
        ts = tasks[:]
        rng.shuffle(ts)
        owners = data["task_owners"]
        reqs["tasks-get"] = [tsv_line("2xx", "GET", f"/api/v1/tasks/{t['id']}", None, auth(t["owner"])) for t in ts]
        reqs["tasks-list"] = [tsv_line("2xx", "GET", "/api/v1/tasks?limit=20", None, auth(o)) for o in owners]
        reqs["tasks-create"] = [
            tsv_line("2xx", "POST", "/api/v1/tasks", {"title": f"bench task {i}", "description": "created by wrk"},
                     auth(owners[i % len(owners)])) for i in range(len(owners) * 4)]
        reqs["tasks-patch"] = [tsv_line("2xx", "PATCH", f"/api/v1/tasks/{t['id']}", {"is_completed": i % 2 == 0},
                                        auth(t["owner"])) for i, t in enumerate(ts)]
    if server.kind == "ours" and tasks:
        reqs["tasks-changes"] = [tsv_line("2xx", "GET", "/api/v1/tasks/changes?limit=100", None,
                                          {"Authorization": f"Bearer {o['bearer']}"}) for o in data["task_owners"]]
        # For the record only: FanOut opens these streams itself (wrk cannot read a stream).
        reqs["tasks-events"] = [tsv_line("stream", "GET", "/api/v1/tasks/events", None,
                                         {"Authorization": f"Bearer {o['bearer']}"}) for o in data["task_owners"]]
    if server.kind == "ours" and "tasks-get" in reqs and "getsession-bearer" in reqs:
        owner_bearers = [tsv_line("session", "GET", "/api/auth/get-session", None,
                                  {"Authorization": f"Bearer {o['bearer']}"}) for o in data["task_owners"]]
        pools = {"getsession-bearer": owner_bearers, **{k: reqs[k] for k in TASK_SCENARIOS}}
        names, weights = zip(*MIX)
        reqs["mixed"] = [rng.choice(pools[rng.choices(names, weights)[0]]) for _ in range(4000)]
    return reqs


def parse_request_line(line: str) -> tuple[str, str, str, Optional[str], dict]:
    """(expect, method, path, body or None, headers) of one request-list line."""
    f = line.split("\t")
    headers = {f[i]: f[i + 1] for i in range(4, len(f) - 1, 2)}
    return f[0], f[1], f[2], None if f[3] == "-" else f[3], headers


def preflight(server: Server, line: str) -> Optional[str]:
    """Send one request of a scenario; None if it behaves, else why not."""
    expect, method, path, body, headers = parse_request_line(line)
    try:
        status, _, payload = Client(server.port).call(method, path, body, headers)
    except Exception as e:  # noqa: BLE001
        return f"{method} {path}: {e}"
    if not 200 <= status < 300:
        return f"{method} {path} -> {status} {payload[:160]!r}"
    if expect == "session" and (payload.strip() == b"null" or b'"session"' not in payload):
        return f"{method} {path} -> {status} but no session in body {payload[:160]!r}"
    return None


# --------------------------------------------------------------------------- load generators


def wrk_cmd(url: str, reqfile: Path, duration: float, conns: int, threads: int, check: bool,
            timeout: str = "10s") -> list[str]:
    cmd = ["wrk", "-t", str(max(1, min(threads, conns))), "-c", str(conns), "-d", f"{max(1, round(duration))}s",
           "--timeout", timeout, "-s", str(LUA), url, "--", str(reqfile), "check" if check else "nocheck",
           # Where in the request list the threads start, new for every run: the requests a run
           # abandons in flight when it ends are then different users each time (with fixed
           # offsets, the sign-ins cut short at every run's end were the same accounts, and the
           # per-account throttle counts an attempt when it starts).
           str(random.randrange(1_000_000))]
    return cmd


def parse_wrk(stdout: str, stderr: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("BENCHJSON "):
            r = json.loads(line[len("BENCHJSON "):])
            dur = r["duration_us"] / 1e6 if r["duration_us"] else float("nan")
            e = r["errors"]
            sock = e["connect"] + e["read"] + e["write"] + e["timeout"]
            if r["checked"]:
                bad = r["non2xx"] + r["null_session"]
                good = r["ok"]
            else:
                bad = e["status_gt399"]
                good = max(0, r["requests"] - bad)
            p = r["latency_us"]["p"]
            if r["requests"] == 0:  # nothing completed: wrk's latency figures are meaningless zeros
                p = {k: None for k in p}
                r["latency_us"].update(max=None, mean=None)
            return {
                "requests": r["requests"], "duration_s": round(dur, 3),
                "rps": round(r["requests"] / dur, 1), "ok_rps": round(good / dur, 1),
                "p50_ms": us_to_ms(p["50"]), "p90_ms": us_to_ms(p["90"]), "p99_ms": us_to_ms(p["99"]),
                "p999_ms": us_to_ms(p["99.9"]), "max_ms": us_to_ms(r["latency_us"]["max"]),
                "mean_ms": us_to_ms(r["latency_us"]["mean"]),
                "errors": bad + sock, "error_detail": {
                    "non2xx": r["non2xx"], "null_session": r["null_session"], "status_codes": r["status_codes"],
                    **e},
                "checked": r["checked"],
            }
    raise RuntimeError(f"wrk gave no BENCHJSON line: {stdout[-500:]} {stderr[-500:]}")


def us_to_ms(x):
    return None if x is None else x / 1000


def run_wrk(cmd: list[str], timeout: float) -> dict:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"wrk exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return parse_wrk(r.stdout, r.stderr)


# --------------------------------------------------------------------------- statement capture

# Parameter types the task statements use: OID -> (SQL type for the literal's cast, binary decoder).
PG_TYPES: dict[int, tuple[str, Callable[[bytes], object]]] = {
    16: ("boolean", lambda b: b != b"\x00"),
    20: ("bigint", lambda b: int.from_bytes(b, "big", signed=True)),
    21: ("smallint", lambda b: int.from_bytes(b, "big", signed=True)),
    23: ("integer", lambda b: int.from_bytes(b, "big", signed=True)),
    25: ("text", lambda b: b.decode()),
    1043: ("varchar", lambda b: b.decode()),
    1114: ("timestamp", lambda b: (dt.datetime(2000, 1, 1) + dt.timedelta(
        microseconds=int.from_bytes(b, "big", signed=True))).isoformat()),
    1184: ("timestamptz", lambda b: (dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
        microseconds=int.from_bytes(b, "big", signed=True))).isoformat()),
    2950: ("uuid", lambda b: str(uuid.UUID(bytes=b))),
    701: ("double precision", lambda b: struct.unpack("!d", b)[0]),
}


def sql_literal(oid: int, fmt: int, raw: Optional[bytes]) -> str:
    """A bound parameter as an SQL literal cast to the parameter's type (the plan stays the same)."""
    typ = PG_TYPES.get(oid)
    cast = f"::{typ[0]}" if typ else ""
    if raw is None:
        return "NULL" + cast
    if fmt == 0:
        value: object = raw.decode()
    elif typ:
        value = typ[1](raw)
    else:
        raise ValueError(f"cannot render a binary parameter of type OID {oid}")
    if isinstance(value, bool):
        return ("true" if value else "false") + cast
    if isinstance(value, (int, float)):
        return f"{value}{cast}"
    return "'" + str(value).replace("'", "''") + "'" + cast


def cstring(buf: bytes) -> tuple[str, bytes]:
    end = buf.index(b"\x00")
    return buf[:end].decode(), buf[end + 1:]


class PgCapture:
    """A loopback TCP proxy in front of PostgreSQL that records, while `recording` is set, each
    statement a client executes: Parse gives the text, Bind the parameters (rendered as literals
    by `sql_literal`); simple queries are kept as they are. Server messages pass through."""

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.recording = False
        self.statements: list[str] = []
        self.problems: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._frontend, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            PgCapture._hang_up(src, dst)

    @staticmethod
    def _hang_up(*socks: socket.socket) -> None:
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _read(sock: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _frontend(self, client: socket.socket, upstream: socket.socket) -> None:
        prepared: dict[str, tuple[str, tuple]] = {}
        try:
            while True:  # untyped start-up packets; SSL/GSS requests are followed by the real one
                head = self._read(client, 8)
                n, code = struct.unpack("!ii", head)
                upstream.sendall(head + self._read(client, n - 8))
                if code not in (80877103, 80877104):
                    break
            while True:
                kind = self._read(client, 1)
                head = self._read(client, 4)
                body = self._read(client, struct.unpack("!i", head)[0] - 4)
                try:
                    self._observe(kind, body, prepared)
                except Exception as e:  # noqa: BLE001
                    self.problems.append(f"{kind!r}: {e}")
                upstream.sendall(kind + head + body)
        except (OSError, EOFError):
            pass
        finally:
            self._hang_up(client, upstream)

    def _observe(self, kind: bytes, body: bytes, prepared: dict) -> None:
        if kind == b"P":
            name, rest = cstring(body)
            query, rest = cstring(rest)
            (k,) = struct.unpack("!h", rest[:2])
            prepared[name] = (query, struct.unpack(f"!{k}I", rest[2:2 + 4 * k]))
        elif kind == b"B" and self.recording:
            _portal, rest = cstring(body)
            name, rest = cstring(rest)
            (nf,) = struct.unpack("!h", rest[:2])
            fmts = struct.unpack(f"!{nf}h", rest[2:2 + 2 * nf])
            rest = rest[2 + 2 * nf:]
            (np_,) = struct.unpack("!h", rest[:2])
            rest = rest[2:]
            query, oids = prepared[name]
            literals = []
            for i in range(np_):
                (ln,) = struct.unpack("!i", rest[:4])
                raw = None if ln < 0 else rest[4:4 + ln]
                rest = rest[4 + max(ln, 0):]
                fmt = fmts[i] if nf > 1 else (fmts[0] if nf == 1 else 0)
                literals.append(sql_literal(oids[i] if i < len(oids) else 0, fmt, raw))
            self.statements.append(re.sub(r"\$(\d+)", lambda m: literals[int(m.group(1)) - 1], query))
        elif kind == b"Q" and self.recording:
            self.statements.append(body.rstrip(b"\x00").decode())


FLOOR_SQL = (
    'SELECT s.id, s.token, s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", '
    's."userAgent", u.id, u.name, u.email, u."emailVerified", u.image, u."createdAt", u."updatedAt" '
    'FROM session s JOIN "user" u ON u.id = s."userId" WHERE s.token = {tok};'
)


def prepare_floor(pg: Pg, db: str, outdir: Path, n: int = 100) -> list[Path]:
    """One pgbench script per stored token (pgbench has no string variables; at most 128 scripts)."""
    toks = pg.psql('SELECT token FROM session ORDER BY md5(token) LIMIT %d' % n, db).splitlines()
    if not toks:
        raise RuntimeError(f"no sessions in {db} for the pgbench floor")
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, t in enumerate(toks):
        assert re.fullmatch(r"[A-Za-z0-9]+", t), "unexpected token format"
        p = outdir / f"floor-{i:03d}.sql"
        p.write_text(FLOOR_SQL.format(tok=f"'{t}'") + "\n")
        files.append(p)
    return files


def run_pgbench(pg: Pg, db: str, scripts: list[Path], duration: float, conns: int, threads: int,
                logdir: Path) -> dict:
    for old in logdir.glob("pgbench_log*"):
        old.unlink()
    cmd = ["pgbench", "-n", "-c", str(conns), "-j", str(threads), "-T", str(max(1, round(duration))),
           "-M", "prepared", "-l", "--log-prefix", str(logdir / "pgbench_log")]
    for s in scripts:
        cmd += ["-f", f"{s}@1"]
    cmd.append(db)
    r = subprocess.run(cmd, env={**pg.env(), **pg.libpq_env()}, capture_output=True, text=True, timeout=duration + 120)
    if r.returncode != 0:
        raise RuntimeError(f"pgbench exited {r.returncode}: {r.stderr.strip()[-800:]}")
    out = r.stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out)
    lat = []
    for f in logdir.glob("pgbench_log*"):
        with open(f) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] / 1000 if lat else None

    return {"requests": len(lat), "rps": round(tps, 1), "ok_rps": round(tps, 1), "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "p999_ms": pct(99.9),
            "max_ms": lat[-1] / 1000 if lat else None, "errors": int(failed.group(1)) if failed else 0,
            "error_detail": {}, "duration_s": duration}


# --------------------------------------------------------------------------- live-update fan-out


def percentile(xs: list[float], p: float) -> Optional[float]:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]


class FanOut:
    """The tasks-events scenario: `streams` SSE streams of `GET /api/v1/tasks/events`, `per_user`
    per user, opened with raw asyncio sockets (HTTP/1.1, chunked bodies decoded here); then
    `writers` threads with their own keep-alive connections issue writes at `rate` per second on
    a fixed schedule (write k at t0 + k / rate, k rotating over the users; even k creates a task,
    odd k patches one of the user's seeded tasks; the title carries k). Each write is expected at
    every stream of its user. A subscriber parses each event's data and records when it arrived;
    delivery latency = arrival - the moment the writer sent the write (one clock: time.monotonic
    in this process), so it includes the write's own time, reported beside it. After the last
    write the subscribers get up to 5 s to receive what is missing; an event that never arrives
    counts in expected but not in delivered.

    Streams stay counted by the server until it notices their closed connection when it next
    writes to it, so `run` ends with two throwaway writes per user, and opening a stream that is
    refused (429) retries after a throwaway write for up to 15 s."""

    OPEN_TIMEOUT = 15.0
    DRAIN = 5.0

    def __init__(self, port: int, users: list[dict], per_user: int, streams: int, rate: float, writers: int):
        self.port, self.users, self.rate = port, users, rate
        self.subscribers = [users[i % len(users)] for i in range(streams)]
        self.per_user = per_user
        self.writers = writers
        self.tag = uuid.uuid4().hex[:8]
        self.received: list[dict[int, float]] = [{} for _ in self.subscribers]  # stream -> seq -> arrival
        self.sent: dict[int, tuple[float, float, int]] = {}  # seq -> (sent, acked, user index)
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    # -- writes (threads, http.client)

    def write(self, conn: Optional[http.client.HTTPConnection], seq: int, title: str, user: dict):
        """One write; (connection to reuse, ok)."""
        if seq >= 0 and seq % 2 == 0 or not user["tasks"]:
            method, path, body = "POST", "/api/v1/tasks", {"title": title}
        else:
            method, path, body = "PATCH", f"/api/v1/tasks/{user['tasks'][seq // 2 % len(user['tasks'])]}", {"title": title}
        headers = {"Authorization": f"Bearer {user['bearer']}", "Content-Type": "application/json"}
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request(method, path, body=json.dumps(body), headers=headers)
            r = conn.getresponse()
            r.read()
            if 200 <= r.status < 300:
                return conn, True
            self.count_error(f"{method} {r.status}")
            return conn, False
        except (OSError, http.client.HTTPException) as e:
            self.count_error(f"{method} {type(e).__name__}")
            if conn is not None:
                conn.close()
            return None, False

    def count_error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def writer(self, w: int, t0: float, n: int) -> None:
        conn = None
        for seq in range(w, n, self.writers):
            delay = t0 + seq / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            u = seq % len(self.users)
            sent = time.monotonic()
            conn, ok = self.write(conn, seq, f"fanout {self.tag} {seq}", self.users[u])
            if ok:
                with self.lock:
                    self.sent[seq] = (sent, time.monotonic(), u)
        if conn is not None:
            conn.close()

    def nudge(self, user: dict) -> None:
        """A throwaway write (not counted): makes the server write to, and so notice, closed streams."""
        conn, _ = self.write(None, -1, f"fanout {self.tag} nudge", user)
        if conn is not None:
            conn.close()

    # -- streams (asyncio)

    async def open_stream(self, i: int):
        user = self.subscribers[i]
        deadline = time.monotonic() + self.OPEN_TIMEOUT
        while True:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write((f"GET /api/v1/tasks/events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                          f"Authorization: Bearer {user['bearer']}\r\nAccept: text/event-stream\r\n\r\n").encode())
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status = int(head.split(" ", 2)[1])
            if status == 200:
                return reader, writer, "transfer-encoding: chunked" in head.lower()
            writer.close()
            if status != 429 or time.monotonic() > deadline:
                raise RuntimeError(f"stream {i}: GET /api/v1/tasks/events -> {status}")
            await asyncio.to_thread(self.nudge, user)
            await asyncio.sleep(0.2)

    async def read_stream(self, i: int, reader: asyncio.StreamReader, chunked: bool) -> None:
        got = self.received[i]
        prefix = f"fanout {self.tag} "
        buf = b""
        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                buf += data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
            buf = buf.replace(b"\r\n", b"\n")
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data:"):
                        event = json.loads(line[5:])
                        title = (event.get("task") or {}).get("title") or ""
                        if title.startswith(prefix) and title[len(prefix):].isdigit():
                            got.setdefault(int(title[len(prefix):]), time.monotonic())

    async def session(self, duration: float) -> dict:
        tries = [asyncio.create_task(asyncio.wait_for(self.open_stream(i), self.OPEN_TIMEOUT + 15))
                 for i in range(len(self.subscribers))]
        results = await asyncio.gather(*tries, return_exceptions=True)
        opened = [x for x in results if not isinstance(x, BaseException)]
        failed = [x for x in results if isinstance(x, BaseException)]
        if failed:
            for _, w, _ in opened:
                w.close()
            raise RuntimeError(f"{len(failed)} of {len(results)} streams did not open: "
                               f"{type(failed[0]).__name__}: {failed[0]}")
        readers = [asyncio.create_task(self.read_stream(i, r, c)) for i, (r, _, c) in enumerate(opened)]
        n = max(1, int(duration * self.rate))
        loop = asyncio.get_running_loop()
        t0 = time.monotonic() + 0.2
        try:
            with cf.ThreadPoolExecutor(max_workers=self.writers) as pool:
                await asyncio.gather(*(loop.run_in_executor(pool, self.writer, w, t0, n) for w in range(self.writers)))
            elapsed = time.monotonic() - t0
            want = self.expected_pairs()
            deadline = time.monotonic() + self.DRAIN
            while time.monotonic() < deadline and sum(1 for i, q in want if q in self.received[i]) < len(want):
                if all(r.done() for r in readers):
                    break
                await asyncio.sleep(0.05)
        finally:
            ended_early = sum(1 for r in readers if r.done())
            for r in readers:
                r.cancel()
            for _, w, _ in opened:
                w.close()
            await asyncio.gather(*readers, return_exceptions=True)
        return {"elapsed": elapsed, "attempted": n, "streams_ended_early": ended_early}

    def expected_pairs(self) -> list[tuple[int, int]]:
        by_user: dict[int, list[int]] = {}
        for i, sub in enumerate(self.subscribers):
            by_user.setdefault(self.users.index(sub), []).append(i)
        return [(i, q) for q, (_, _, u) in self.sent.items() for i in by_user.get(u, [])]

    def run(self, duration: float) -> dict:
        try:
            info = asyncio.run(self.session(duration))
        finally:
            for u in {id(s): s for s in self.subscribers}.values():
                self.nudge(u)
                self.nudge(u)
        want = self.expected_pairs()
        lat = [(self.received[i][q] - self.sent[q][0]) * 1000 for i, q in want if q in self.received[i]]
        writes = [(a - s0) * 1000 for s0, a, _ in self.sent.values()]
        ok = len(self.sent)
        errors = sum(self.errors.values())
        return {
            "requests": ok + errors, "ok_rps": ok / info["elapsed"], "rps": (ok + errors) / info["elapsed"],
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "max_ms": max(lat) if lat else None,
            "errors": errors, "error_detail": dict(self.errors), "duration_s": round(info["elapsed"], 2),
            "streams": len(self.subscribers), "users": len(self.users), "target_rate": self.rate,
            "attempted_writes": info["attempted"], "expected": len(want), "delivered": len(lat),
            "streams_ended_early": info["streams_ended_early"],
            "write_p50_ms": percentile(writes, 50), "write_p99_ms": percentile(writes, 99),
        }


# --------------------------------------------------------------------------- orchestration


class Bench:
    def __init__(self, args):
        self.args = args
        self.pg = Pg(args.pg_url)
        self.ts = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.outdir = Path(args.out)
        self.rundir = self.outdir / self.ts
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.servers: list[Server] = []
        self.data: dict[str, dict] = {}
        self.reqfiles: dict[tuple[str, str], Path] = {}
        self.skipped: dict[str, str] = {}           # "system" or "system/scenario" -> reason
        self.runs: list[dict] = []
        self.floors: dict[str, dict] = {}           # scenario -> its pgbench floor (db, scripts)
        self.hash_ms: Optional[dict] = None         # one scrypt hash, as the service computes it
        self.hash_ms_by_build: dict = {}            # the same per build of the binary (generic, x86-64-v4)
        self.build: Optional[dict] = None           # the build our service runs, and why (`api hash-selftest`)
        self.rng = random.Random(args.seed)

    # -- setup

    def setup(self) -> None:
        a = self.args
        if "ours" in a.systems and not OURS_BIN.exists():
            reason = (f"{OURS_BIN} not found: build it with `cargo build --release -p api` "
                      "(bench/run does unless BENCH_SKIP_BUILD=1)")
            log(f"ours: SKIPPED: {reason}")
            self.skipped["ours"] = reason
            a.systems = [s for s in a.systems if s != "ours"]
        for s in make_servers(a, self.pg, self.rundir):
            try:
                self.bring_up(s)
                self.servers.append(s)
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: SKIPPED: {e}")
                self.skipped[s.name] = str(e).splitlines()[0]
                s.stop()
        for s in self.servers:
            if s.variant_of:
                self.share_requests(s)
                continue
            try:
                self.seed(s)
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: seeding failed: {e}")
                self.skipped[s.name] = f"seeding failed: {e}"
        if "pgbench" in a.systems:
            try:
                self.setup_floor()
            except Exception as e:  # noqa: BLE001
                self.skipped["pgbench/getsession-cookie"] = str(e)
                log(f"pgbench: SKIPPED: {e}")
            self.capture_task_floors()

    def bring_up(self, s: Server) -> None:
        if s.dbname:
            self.pg.fresh_db(s.dbname)
        elif s.sqlite_file:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{s.sqlite_file}{suffix}").unlink(missing_ok=True)
        log(f"{s.name}: first start on an empty database (migrations) ...")
        first = s.start(self.rundir, "first")
        s.stop()
        starts = []
        for i in range(self.args.startup_repeats):
            if i:
                s.stop()
            t = s.start(self.rundir, f"start{i}")
            starts.append(t)
        time.sleep(1.0)
        s.facts.update({
            "first_start": first, "starts_existing_db": starts,
            "startup_to_http_ms_median": statistics.median(x["to_http_ms"] for x in starts),
            "startup_to_log_ms_median": (statistics.median(x["to_log_ms"] for x in starts)
                                         if all(x["to_log_ms"] is not None for x in starts) else None),
            "idle_rss_kb": tree_kb(s.pid, "VmRSS"), "processes": len(process_tree(s.pid)),
            "port": s.port,
        })
        if s.facts["startup_to_log_ms_median"] is None and s.ready_pattern:
            s.facts["startup_note"] = "no ready log line seen (is it filtered by the log level?); to_http_ms is valid"
        log(f"{s.name}: up; start-up to HTTP {s.facts['startup_to_http_ms_median']} ms, to log line "
            f"{s.facts['startup_to_log_ms_median']} ms, idle RSS {s.facts['idle_rss_kb'] // 1024} MiB")

    def seed(self, s: Server) -> None:
        a = self.args
        t0 = time.monotonic()
        data: dict = {}
        if s.kind in ("ours", "betterauth"):
            data["users"] = seed_auth(s, a.users)
        if s.kind in ("ours", "fastapi"):
            if s.kind == "ours":
                owners = data["users"][: a.task_users]
            else:  # FastAPI trusts X-User-Id: ids shaped like Better Auth's
                owners = [{"user_id": "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=32))}
                          for _ in range(a.task_users)]
            data["task_owners"] = owners
            try:
                data["tasks"] = seed_tasks(s, owners, a.tasks_per_user)
                for o in owners:
                    o["tasks"] = [t["id"] for t in data["tasks"] if t["owner"] is o]
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: task seeding failed, task scenarios skipped: {e}")
                for sc in TASK_SCENARIOS + SYNC_SCENARIOS + EVENT_SCENARIOS + ["mixed"]:
                    self.skipped[f"{s.name}/{sc}"] = f"task seeding failed: {e}"
        self.data[s.name] = data
        s.facts["seed_s"] = round(time.monotonic() - t0, 1)
        s.facts["seed_rss_kb"] = tree_kb(s.pid, "VmRSS")
        reqdir = self.rundir / "requests" / s.name
        reqdir.mkdir(parents=True, exist_ok=True)
        for sc, lines in build_requests(s, data, self.rng).items():
            p = reqdir / f"{sc}.tsv"
            p.write_text("\n".join(lines) + "\n")
            self.reqfiles[(s.name, sc)] = p
        log(f"{s.name}: seeded {len(data.get('users', []))} users, {len(data.get('tasks', []))} tasks "
            f"in {s.facts['seed_s']} s")

    def share_requests(self, v: Server) -> None:
        """A variant replays its default server's request lists, on the same database."""
        wanted = VARIANTS[v.name.split("+", 1)[1]]["scenarios"]
        for sc in wanted:
            if (v.variant_of, sc) in self.reqfiles:
                self.reqfiles[(v.name, sc)] = self.reqfiles[(v.variant_of, sc)]

    def setup_floor(self) -> None:
        src = next((s for s in self.servers if s.kind == "ours" and s.db == "pg" and s.name not in self.skipped), None) \
            or next((s for s in self.servers if s.kind == "betterauth" and s.name not in self.skipped), None)
        if src is None:
            why = "no PostgreSQL auth database to query (neither ours-pg nor betterauth is up)"
            self.skipped["pgbench/getsession-cookie"] = why
            log(f"pgbench: SKIPPED: {why}")
            return
        scripts = prepare_floor(self.pg, src.dbname, self.rundir / "pgbench")
        free = int(self.pg.psql("SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"))
        self.floors["getsession-cookie"] = {"db": src.dbname, "of": src.name, "scripts": scripts,
                                            "tokens": len(scripts), "sql": FLOOR_SQL.format(tok=":token")}
        log(f"pgbench floor: {len(scripts)} stored tokens from {src.dbname} ({free} free connections now)")
        if free < self.args.connections + 10:
            log(f"WARNING: only {free} PostgreSQL connections free; pgbench needs {self.args.connections}")

    def capture_task_floors(self) -> None:
        """pgbench scripts with exactly the statements our service executes for a task get, a
        list page and a create. A second instance of the service, connected to the same database
        through a capturing proxy (`PgCapture`), answers each request of the scenario's request
        list twice: the first warms its session cache, the statements of the second become one
        pgbench script (one per request, at most 100: pgbench has no string variables)."""
        src = next((s for s in self.servers if s.name == "ours-pg" and s.name not in self.skipped), None)
        wanted = [sc for sc in FLOOR_CAPTURED if sc in self.args.scenarios]
        if not wanted:
            return
        if src is None or any((src.name, sc) not in self.reqfiles for sc in wanted):
            for sc in wanted:
                self.skipped[f"pgbench/{sc}"] = "needs ours-pg with seeded tasks"
            return
        proxy = PgCapture(self.pg.host, self.pg.port)
        port = free_port()
        env = dict(src.env, PORT=str(port), DATABASE_URL=self.pg.url(src.dbname, port=proxy.port))
        cap = Server(name="ours-capture", kind="ours", db="pg", cmd=src.cmd, env=env, cwd=self.rundir, port=port,
                     probe_path="/api/auth/ok", ready_pattern=rf"listening on http://127\.0\.0\.1:{port}")
        try:
            cap.start(self.rundir, "capture")
            # Steady state: the session cache serves only once the instance's change listener is
            # connected (a moment after start-up); until then every request looks its session up.
            time.sleep(1.0)
            client = Client(port)
            for sc in wanted:
                outdir = self.rundir / "pgbench" / sc
                outdir.mkdir(parents=True, exist_ok=True)
                scripts = []
                try:
                    for i, line in enumerate(self.reqfiles[(src.name, sc)].read_text().splitlines()[:100]):
                        _, method, path, body, headers = parse_request_line(line)
                        client.call(method, path, body, headers)
                        proxy.statements = []
                        proxy.recording = True
                        status, _, payload = client.call(method, path, body, headers)
                        proxy.recording = False
                        if not 200 <= status < 300:
                            raise RuntimeError(f"{method} {path} -> {status} {payload[:160]!r}")
                        if proxy.problems or not proxy.statements:
                            raise RuntimeError(f"{method} {path}: no statement captured {proxy.problems[:3]}")
                        f = outdir / f"{sc}-{i:03d}.sql"
                        f.write_text("".join(st + ";\n" for st in proxy.statements))
                        scripts.append(f)
                except Exception as e:  # noqa: BLE001
                    self.skipped[f"pgbench/{sc}"] = f"statement capture failed: {e}"
                    log(f"pgbench/{sc}: SKIPPED: statement capture failed: {e}")
                    continue
                self.floors[sc] = {"db": src.dbname, "of": src.name, "scripts": scripts,
                                   "sql": scripts[0].read_text().strip()}
                log(f"pgbench floor for {sc}: {len(scripts)} captured requests, e.g. {self.floors[sc]['sql'][:160]}")
        except Exception as e:  # noqa: BLE001
            for sc in wanted:
                self.skipped.setdefault(f"pgbench/{sc}", f"statement capture failed: {e}")
            log(f"statement capture failed: {e}")
        finally:
            cap.stop()
            proxy.close()

    # -- rounds

    def participants(self, sc: str) -> list[str]:
        names = [s.name for s in self.servers if s.name not in self.skipped]
        out = []
        for n in names:
            s = self.server(n)
            if f"{n}/{sc}" in self.skipped:
                continue
            if sc == "storm":
                ok = (n, "signin") in self.reqfiles and (n, "getsession-cookie") in self.reqfiles
            else:
                ok = (n, sc) in self.reqfiles
            if ok and (s.kind != "fastapi" or sc in TASK_SCENARIOS) and (s.kind != "betterauth" or sc not in TASK_SCENARIOS):
                out.append(n)
        if sc in self.floors and "pgbench" not in self.skipped and f"pgbench/{sc}" not in self.skipped:
            out.append("pgbench")
        return out

    def server(self, name: str) -> Server:
        return next(s for s in self.servers if s.name == name)

    def which_build(self) -> Optional[dict]:
        """The build of our binary that runs on this machine, and why (`api hash-selftest`)."""
        with tempfile.TemporaryDirectory() as data_dir:
            r = subprocess.run([str(OURS_BIN), "hash-selftest"], capture_output=True, text=True, timeout=120,
                               env={"PATH": os.environ.get("PATH", ""), "DATA_DIR": data_dir,
                                    "AUTH_SECRET": "bench-hash-selftest-secret-0123456789abcdef"})
        if r.returncode != 0:
            self.skipped["build"] = f"`api hash-selftest` failed: {r.stderr.strip()[-300:]}"
            return None
        report = json.loads(r.stdout)
        return {"build": report["build"], "reason": report["build_reason"], "build_id": report["build_id"]}

    def time_hash(self) -> None:
        """Median time of one password hash on one thread (the sign-in target's unit), per build
        of the binary; the sign-in target uses the build our service runs."""
        self.build = self.which_build()
        if self.build:
            log(f"our service runs its {self.build['build']} build ({self.build['reason']})")
        timers = {"generic": HASH_TIMER, "x86-64-v4": HASH_TIMER_V4}
        for build, timer in timers.items():
            if not timer.exists():
                self.skipped[f"hash time, {build} build"] = (
                    f"{timer} not found: build it with `cargo build --release -p api --example scrypt_time`"
                    if build == "generic" else
                    f"{timer} not found: build it with `scripts/build-x86-64-v4 --release --example scrypt_time`")
                continue
            if build == "x86-64-v4" and not cpu_has_x86_64_v4():
                self.skipped["hash time, x86-64-v4 build"] = "this CPU lacks AVX-512: the service runs its generic build"
                continue
            r = subprocess.run([str(timer), "15"], capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                self.hash_ms_by_build[build] = json.loads(r.stdout)
                log(f"one scrypt hash, {build} build: median {self.hash_ms_by_build[build]['median_ms']} ms")
        running = self.build["build"] if self.build else "generic"
        self.hash_ms = self.hash_ms_by_build.get(running)
        if self.hash_ms:
            self.hash_ms["build"] = running
            # What the cores could hash per second: the unit of the sign-in target.
            self.hash_ms["capacity_ok_rps"] = (os.cpu_count() or 1) / self.hash_ms["median_ms"] * 1000
            log(f"capacity of the {running} build: {self.hash_ms['capacity_ok_rps']:.1f} sign-ins/s "
                f"on {os.cpu_count()} cores")
        else:
            self.skipped["signin target"] = f"no hash time for the {running} build our service runs"

    def run_all(self) -> None:
        a = self.args
        if "signin" in a.scenarios and any(s.kind == "ours" for s in self.servers):
            self.time_hash()
        # Pre-flight each (system, scenario) once; a broken endpoint is skipped, not measured.
        for sc in a.scenarios:
            for n in self.participants(sc):
                if n == "pgbench":
                    continue
                why = None
                if sc in EVENT_SCENARIOS:
                    why = self.fanout_preflight(self.server(n))
                for key in ([] if sc in EVENT_SCENARIOS else ["signin", "getsession-cookie"] if sc == "storm" else [sc]):
                    first = self.reqfiles[(n, key)].read_text().splitlines()[0]
                    why = why or preflight(self.server(n), first)
                if why:
                    log(f"{n}/{sc}: SKIPPED, pre-flight failed: {why}")
                    self.skipped[f"{n}/{sc}"] = f"pre-flight failed: {why}"
        for r in range(a.rounds):
            log(f"=== round {r + 1}/{a.rounds} (load avg {loadavg():.2f}) ===")
            for sc in a.scenarios:
                parts = self.participants(sc)
                if not parts:
                    continue
                k = r % len(parts)
                order = parts[k:] + parts[:k]  # alternate who goes first, round by round
                for n in order:
                    if r == 0 and a.warmup > 0 and n != "pgbench" and sc != "storm":
                        self.measure(n, sc, a.warmup, record=False, rnd=r)
                    self.measure(n, sc, a.duration, record=True, rnd=r)

    def wait_all_quiet(self) -> float:
        """Let every server finish leftover work (a sign-in backlog outlives its wrk run)."""
        t0 = time.monotonic()
        for s in self.servers:
            s.wait_quiet(max_s=max(0.0, 180.0 - (time.monotonic() - t0)))
        waited = time.monotonic() - t0
        if waited > 5:
            log(f"waited {waited:.0f} s for the servers to go idle")
        return waited

    def measure(self, name: str, sc: str, duration: float, record: bool, rnd: int) -> None:
        a = self.args
        quiet_wait = self.wait_all_quiet()
        la = loadavg()
        idle_busy = busy_pct_over(1.0)  # our servers are idle now: this is everyone else's load
        srv = None if name == "pgbench" else self.server(name)
        hz = os.sysconf("SC_CLK_TCK")
        srv_t0 = tree_cpu_ticks(srv.pid) if srv and srv.alive() else 0
        m0 = machine_ticks()
        mono0 = time.monotonic()
        t0 = time.time()
        try:
            if name == "pgbench":
                floor = self.floors[sc]
                res = run_pgbench(self.pg, floor["db"], floor["scripts"], duration, a.connections,
                                  a.threads, self.rundir / "pgbench")
            else:
                s = self.server(name)
                if not s.alive():
                    raise RuntimeError(f"{name} is no longer running; log tail:\n{s.log_tail()}")
                if sc == "storm":
                    res = self.storm(s, duration)
                elif sc in EVENT_SCENARIOS:
                    res = self.fanout(s, duration)
                else:
                    cmd = wrk_cmd(s.base, self.reqfiles[(name, sc)], duration, a.connections, a.threads,
                                  not a.no_check)
                    res = run_wrk(cmd, duration + 60)
        except Exception as e:  # noqa: BLE001
            log(f"{name}/{sc}: FAILED: {e}")
            res = {"failed": str(e)}
        if not record:
            return
        elapsed = time.monotonic() - mono0
        m1 = machine_ticks()
        res["machine_busy_pct"] = round(100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]), 1)
        if srv and srv.alive():
            res["server_cpu_pct_of_one_core"] = round(100.0 * (tree_cpu_ticks(srv.pid) - srv_t0) / hz / elapsed, 1)
        res.update({"round": rnd + 1, "scenario": sc, "system": name, "loadavg_before": la,
                    "other_load_busy_pct_before": idle_busy,
                    "idle_wait_before_s": round(quiet_wait, 1),
                    "started_at": dt.datetime.fromtimestamp(t0, dt.timezone.utc).isoformat()})
        self.runs.append(res)
        if "failed" not in res:
            extra = ""
            if sc == "storm":
                extra = (f" | storm sign-in {res['storm_signin']['ok_rps']}/s, errors {res['storm_signin']['errors']}"
                         f", peak RSS {res['peak_rss_kb'] // 1024} MiB")
            if sc in EVENT_SCENARIOS:
                extra = (f" | {res['streams']} streams, delivered {res['delivered']}/{res['expected']}, write p99 "
                         f"{fmt_ms(res['write_p99_ms'])} ms")
            log(f"r{rnd + 1} {sc:18s} {name:12s} {res['ok_rps']:>10.1f} ok/s  p50 {fmt_ms(res['p50_ms'])}  "
                f"p99 {fmt_ms(res['p99_ms'])}  errors {res['errors']}  (server CPU "
                f"{res.get('server_cpu_pct_of_one_core', '-')}%, others' load before {res['other_load_busy_pct_before']}%)"
                f"{extra}")

    def fanout_users(self, s: Server) -> list[dict]:
        a = self.args
        owners = [o for o in self.data[s.name].get("task_owners", []) if o.get("tasks")]
        return owners[: math.ceil(a.fanout_streams / a.fanout_per_user)]

    def fanout(self, s: Server, duration: float) -> dict:
        a = self.args
        users = self.fanout_users(s)
        if not users:
            raise RuntimeError("no task owner with seeded tasks to stream for")
        return FanOut(s.port, users, a.fanout_per_user, min(a.fanout_streams, len(users) * a.fanout_per_user),
                      a.fanout_rate, a.fanout_writers).run(duration)

    def fanout_preflight(self, s: Server) -> Optional[str]:
        """One stream, a few writes: each must arrive. None if so, else why not."""
        users = self.fanout_users(s)[:1]
        if not users:
            return "no task owner with seeded tasks to stream for"
        try:
            res = FanOut(s.port, users, 1, 1, 4.0, 1).run(1.0)
        except Exception as e:  # noqa: BLE001
            return f"GET /api/v1/tasks/events: {e}"
        if res["errors"] or not res["expected"] or res["delivered"] != res["expected"]:
            return (f"GET /api/v1/tasks/events: {res['delivered']} of {res['expected']} events arrived, "
                    f"{res['errors']} write errors {res.get('error_detail')}")
        return None

    def storm(self, s: Server, duration: float) -> dict:
        """256 connections hammer sign-in; a separate low-concurrency wrk measures get-session."""
        a = self.args
        hwm_reset = reset_hwm(s.pid)
        peak = {"kb": tree_kb(s.pid, "VmRSS")}
        stop = threading.Event()

        def sample():
            while not stop.wait(0.1):
                peak["kb"] = max(peak["kb"], tree_kb(s.pid, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        lead = 1.0
        storm_cmd = wrk_cmd(s.base, self.reqfiles[(s.name, "signin")], duration + 2 * lead, a.storm_connections, 1,
                            not a.no_check, timeout="60s")
        storm = subprocess.Popen(storm_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(lead)
            probe = run_wrk(wrk_cmd(s.base, self.reqfiles[(s.name, "getsession-cookie")], duration,
                                    a.storm_probe_connections, 1, not a.no_check), duration + 60)
            out, err = storm.communicate(timeout=duration + 120)
        finally:
            if storm.poll() is None:
                storm.kill()
                storm.wait()
            stop.set()
            sampler.join()
        if storm.returncode != 0:
            raise RuntimeError(f"storm wrk exited {storm.returncode}: {err[-400:]}")
        probe["storm_signin"] = parse_wrk(out, err)
        probe["peak_rss_kb"] = peak["kb"]
        probe["vmhwm_sum_kb"] = tree_kb(s.pid, "VmHWM") if hwm_reset else None
        return probe

    # -- summary

    def summarize(self) -> dict:
        groups: dict[tuple[str, str], list[dict]] = {}
        for r in self.runs:
            if "failed" not in r:
                groups.setdefault((r["scenario"], r["system"]), []).append(r)
        med = {}
        for (sc, sysname), rs in groups.items():
            m = {
                "rounds": len(rs),
                "ok_rps": statistics.median(x["ok_rps"] for x in rs),
                "rps": statistics.median(x["rps"] for x in rs),
                "p50_ms": med_latency([x["p50_ms"] for x in rs]),
                "p99_ms": med_latency([x["p99_ms"] for x in rs]),
                "rounds_with_no_completion": sum(1 for x in rs if not x["requests"]),
                "errors": sum(x["errors"] for x in rs),
                "per_round_ok_rps": [x["ok_rps"] for x in rs],
            }
            cpu = [x["server_cpu_pct_of_one_core"] / 100 * 1e6 / x["ok_rps"]
                   for x in rs if x.get("server_cpu_pct_of_one_core") is not None and x["ok_rps"] > 0]
            if cpu:
                m["server_cpu_us_per_ok"] = round(statistics.median(cpu), 1)
            if sc in EVENT_SCENARIOS:
                m["streams"] = max(x["streams"] for x in rs)
                m["delivered"] = sum(x["delivered"] for x in rs)
                m["expected"] = sum(x["expected"] for x in rs)
                m["write_p50_ms"] = med_latency([x["write_p50_ms"] for x in rs])
                m["write_p99_ms"] = med_latency([x["write_p99_ms"] for x in rs])
                m["max_delivery_ms"] = max((x["max_ms"] for x in rs if x["max_ms"] is not None), default=None)
            if sc == "storm":
                m["storm_signin_ok_rps"] = statistics.median(x["storm_signin"]["ok_rps"] for x in rs)
                m["storm_signin_errors"] = sum(x["storm_signin"]["errors"] for x in rs)
                m["peak_rss_kb"] = max(x["peak_rss_kb"] for x in rs)
            med[(sc, sysname)] = m
        rows = []
        for sc in self.args.scenarios:
            for sysname in [n for (s2, n) in med if s2 == sc]:
                m = dict(med[(sc, sysname)], scenario=sc, system=sysname)
                if "+" in sysname:
                    default = sysname.split("+", 1)[0]
                    d = med.get((sc, default))
                    if d and d["ok_rps"] > 0:
                        m["default"] = default
                        m["vs_default"] = m["ok_rps"] / d["ok_rps"]
                        pairs = paired_ratios(groups.get((sc, sysname), []), groups.get((sc, default), []))
                        if pairs:
                            m["vs_default_per_round"] = pairs
                if sysname.startswith("ours-"):  # an ours-only scenario finds no baseline row
                    base = "fastapi" if sc in TASK_SCENARIOS else "betterauth"
                    b = med.get((sc, base))
                    if sc != "mixed" and b and b["ok_rps"] <= 0:
                        m["baseline"] = base
                        m["baseline_completed_nothing"] = True
                    if sc != "mixed" and b and b["ok_rps"] > 0:
                        m["baseline"] = base
                        m["vs_baseline"] = m["ok_rps"] / b["ok_rps"]
                        pairs = paired_ratios(groups.get((sc, sysname), []), groups.get((sc, base), []))
                        if pairs:
                            m["vs_baseline_per_round"] = pairs
                    if sc == "mixed":
                        model = self.mixed_model(med)
                        if model:
                            m["baseline"] = "old system (modelled)"
                            m["baseline_model_ok_rps"] = model
                            m["vs_baseline"] = m["ok_rps"] / model
                    without = med.get((sc, f"{sysname}-nojwt"))
                    if sc.startswith("getsession") and without and without["ok_rps"] > 0:
                        m["vs_without_jwt_header"] = m["ok_rps"] / without["ok_rps"]
                    floor_sc = "getsession-cookie" if sc.startswith("getsession") else sc
                    f = med.get((floor_sc, "pgbench"))
                    if sysname == "ours-pg" and f and f["ok_rps"] > 0:
                        m["vs_floor"] = m["ok_rps"] / f["ok_rps"]
                        pairs = paired_ratios(groups.get((sc, sysname), []), groups.get((floor_sc, "pgbench"), []))
                        if pairs:
                            m["vs_floor_per_round"] = pairs
                    if sc == "signin" and self.hash_ms:
                        m["hash_capacity_ok_rps"] = self.hash_ms["capacity_ok_rps"]
                        m["vs_hash_capacity"] = m["ok_rps"] / m["hash_capacity_ok_rps"]
                    t = TARGETS.get(sc)
                    if t and sysname == "ours-pg":
                        checks = {}
                        if "vs_hash_capacity" in t and "vs_hash_capacity" in m:
                            checks[f">= {t['vs_hash_capacity']:.0%} of cores / scrypt time "
                                   f"({m['hash_capacity_ok_rps']:.1f}/s; got {m['vs_hash_capacity']:.0%})"] = (
                                m["vs_hash_capacity"] >= t["vs_hash_capacity"])
                        if "peak_rss_mib" in t and m.get("peak_rss_kb") is not None:
                            checks[f"peak RSS <= {t['peak_rss_mib']:g} MiB"] = m["peak_rss_kb"] / 1024 <= t["peak_rss_mib"]
                        if "vs_baseline" in t and "vs_baseline" in m:
                            checks[f">= {t['vs_baseline']:g}x {base}"] = m["vs_baseline"] >= t["vs_baseline"]
                        if "vs_floor" in t and "vs_floor" in m:
                            checks[f">= {t['vs_floor']:.0%} of pgbench floor"] = m["vs_floor"] >= t["vs_floor"]
                        if "p99_ms" in t and m["p99_ms"] is not None:
                            checks[f"p99 <= {t['p99_ms']:g} ms"] = m["p99_ms"] <= t["p99_ms"]
                        m["targets"] = checks
                rows.append(m)
        return {"rows": rows}

    def mixed_model(self, med: dict) -> Optional[float]:
        """Throughput of the old two-process system for the same mix, if each part ran alone on
        this machine: 1 / sum(weight_i / rate_i). An estimate, not a measurement."""
        total = 0.0
        for sc, w in MIX:
            base = "betterauth" if sc.startswith("getsession") else "fastapi"
            m = med.get((sc, base))
            if not m or m["ok_rps"] <= 0:
                return None
            total += (w / 100) / m["ok_rps"]
        return 1 / total

    def facts(self) -> dict:
        def cmd_out(cmd):
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
                return r.stdout.strip() or r.stderr.strip()
            except Exception:  # noqa: BLE001
                return None

        cpu = ""
        try:
            cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        ba_ver = None
        try:
            ba_ver = json.loads((BA_DIR / "node_modules" / "better-auth" / "package.json").read_text())["version"]
        except OSError:
            pass
        bin_facts = None
        if OURS_BIN.exists():
            st = OURS_BIN.stat()
            bin_facts = {"path": str(OURS_BIN), "sha256": hashlib.sha256(OURS_BIN.read_bytes()).hexdigest(),
                         "mtime": dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).isoformat()}
        return {
            "host": {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                     "mem_total_kb": proc_meminfo("MemTotal")},
            "versions": {
                "wrk": (cmd_out(["wrk", "-v"]) or "").splitlines()[0] if shutil.which("wrk") else None,
                "pgbench": cmd_out(["pgbench", "--version"]),
                "postgresql": self.safe_psql("SHOW server_version"),
                "node": cmd_out(["node", "--version"]), "better_auth": ba_ver,
                "python_fastapi": cmd_out([str(VENV / "bin" / "python"), "--version"]),
                "fastapi_freeze": (cmd_out([str(VENV / "bin" / "pip"), "freeze"]) or "").splitlines(),
            },
            "git": {"commit": git_commit(),
                    "dirty": bool(cmd_out(["git", "-C", str(ROOT), "status", "--porcelain", "--", "api", "migration"]))},
            "ours_binary": bin_facts,
            "scrypt_hash_ms": self.hash_ms,
            "scrypt_hash_ms_by_build": self.hash_ms_by_build,
            "build": self.build,
            "pg_max_connections": self.safe_psql("SHOW max_connections"),
        }

    def safe_psql(self, sql: str) -> Optional[str]:
        try:
            return self.pg.psql(sql)
        except Exception:  # noqa: BLE001
            return None

    def teardown(self) -> None:
        for s in self.servers:
            if s.alive():
                s.facts["rss_after_kb"] = tree_kb(s.pid, "VmRSS")
            s.stop()
        if not self.args.keep_dbs:
            for s in self.servers:
                if s.dbname:
                    try:
                        self.pg.drop_db(s.dbname)
                    except Exception as e:  # noqa: BLE001
                        log(f"could not drop {s.dbname}: {e}")


def git_commit() -> Optional[str]:
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def proc_meminfo(key: str) -> Optional[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def med_latency(xs):
    """Median latency over rounds; a round that completed nothing counts as infinitely slow."""
    if not xs:
        return None
    m = statistics.median([float("inf") if x is None else x for x in xs])
    return None if m == float("inf") else m


def paired_ratios(ours: list[dict], base: list[dict]) -> list[float]:
    b = {x["round"]: x["ok_rps"] for x in base}
    return [round(x["ok_rps"] / b[x["round"]], 2) for x in ours if b.get(x["round"])]


def fmt_ms(x) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_rate(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def pct_range(xs) -> str:
    return f" ({min(xs):.0%}-{max(xs):.0%})" if xs and len(xs) > 1 else ""


def ratio_range(xs) -> str:
    return f" ({min(xs):.2f}-{max(xs):.2f})" if xs and len(xs) > 1 else ""


SCENARIO_TITLES = {
    "getsession-cookie": "get-session, cookie", "getsession-bearer": "get-session, bearer", "signin": "sign-in",
    "tasks-get": "tasks get", "tasks-list": "tasks list (20 items)", "tasks-create": "tasks create",
    "tasks-patch": "tasks patch", "tasks-changes": "tasks change feed, first sync (100 per page)", "mixed": "mixed (40 % get-session, 30 % list, 10 % get/create/patch)",
    "storm": "get-session **during a 256-client sign-in storm**",
    "tasks-events": "live updates: writes/s fanned out to SSE streams; p50 / p99 = delivery latency",
}
BASELINE_TITLES = {"betterauth": "Better Auth", "fastapi": "FastAPI"}


def readme_table(summary: dict) -> str:
    """The README's performance table: our service on PostgreSQL per scenario, its baseline and
    pgbench floor from the same run, ratios of medians with the per-round range, server CPU per
    successful request, and the targets."""
    rows = {(m["scenario"], m["system"]): m for m in summary["rows"]}
    out = ["| scenario | this service | p50 / p99 ms | baseline | ratio (per-round range) | "
           "vs its pgbench floor (range) | server CPU µs / request: ours · baseline | targets |",
           "|---|--:|--:|--:|---|---|--:|---|"]
    for (sc, sysname), m in rows.items():
        if sysname != "ours-pg":
            continue
        base = m.get("baseline")
        b = rows.get((sc, base)) if base else None
        if b:
            baseline = f"{BASELINE_TITLES.get(base, base)} {fmt_rate(b['ok_rps'])}/s"
        elif base:
            baseline = base + (f" {fmt_rate(m['baseline_model_ok_rps'])}/s" if "baseline_model_ok_rps" in m else "")
        else:
            baseline = "-"
        ratio = f"**{m['vs_baseline']:.2f}×**{ratio_range(m.get('vs_baseline_per_round'))}" if "vs_baseline" in m else "-"
        floor_sc = "getsession-cookie" if sc.startswith("getsession") else sc
        fl = rows.get((floor_sc, "pgbench"))
        floor = (f"{m['vs_floor']:.0%}{pct_range(m.get('vs_floor_per_round'))} of {fmt_rate(fl['ok_rps'])}/s"
                 if "vs_floor" in m and fl else "-")
        cpu = fmt_rate(m.get("server_cpu_us_per_ok"))
        if b and b.get("server_cpu_us_per_ok") is not None:
            cpu += f" · {fmt_rate(b['server_cpu_us_per_ok'])}"
        targets = ", ".join(("met: " if ok else "**missed**: ") + k for k, ok in m.get("targets", {}).items()) or ""
        out.append(f"| {SCENARIO_TITLES.get(sc, sc)} | {fmt_rate(m['ok_rps'])}/s | {fmt_ms(m['p50_ms'])} / "
                   f"{fmt_ms(m['p99_ms'])} | {baseline} | {ratio} | {floor} | {cpu} | {targets} |")
    return "\n".join(out)


def variants_table(summary: dict) -> Optional[str]:
    """Each variant against our service with its default settings, same run."""
    rows = {(m["scenario"], m["system"]): m for m in summary["rows"]}
    out = ["| variant | scenario | ok/s | p50 / p99 ms | vs default (per-round range) | server CPU µs / request: "
           "variant · default |", "|---|---|--:|--:|---|--:|"]
    for (sc, sysname), m in rows.items():
        if "vs_default" not in m:
            continue
        d = rows[(sc, m["default"])]
        v = sysname.split("+", 1)[1]
        cpu = f"{fmt_rate(m.get('server_cpu_us_per_ok'))} · {fmt_rate(d.get('server_cpu_us_per_ok'))}"
        out.append(f"| {v}: {VARIANTS[v]['what']} | {SCENARIO_TITLES.get(sc, sc)} | {fmt_rate(m['ok_rps'])}/s | "
                   f"{fmt_ms(m['p50_ms'])} / {fmt_ms(m['p99_ms'])} | {m['vs_default']:.2f}×"
                   f"{ratio_range(m.get('vs_default_per_round'))} | {cpu} |")
    return "\n".join(out) if len(out) > 2 else None


def markdown(bench: Bench, summary: dict, meta: dict) -> str:
    a = bench.args
    out = [f"## Benchmark {bench.ts}", "",
           f"{a.rounds} round(s) x {a.duration:g} s, {a.connections} connections ({a.threads} wrk threads), "
           f"storm {a.storm_connections} sign-in connections + {a.storm_probe_connections} get-session; "
           f"medians over rounds; `ok/s` counts only successful responses. "
           f"Host: {meta['host']['nproc']} cores ({meta['host']['cpu']}), shared and noisy.", "",
           "| scenario | system | ok/s | p50 ms | p99 ms | errors | vs baseline | vs pgbench floor | targets |",
           "|---|---|--:|--:|--:|--:|---|--:|---|"]
    for m in summary["rows"]:
        vs = ""
        if "vs_baseline" in m:
            vs = f"{m['vs_baseline']:.2f}x {m['baseline']}"
            if m.get("vs_baseline_per_round") and len(m["vs_baseline_per_round"]) > 1:
                pr = m["vs_baseline_per_round"]
                vs += f" ({min(pr):.2f}-{max(pr):.2f})"
        if m.get("baseline_completed_nothing"):
            vs = f"{m['baseline']} completed nothing"
        fl = f"{m['vs_floor']:.0%}{pct_range(m.get('vs_floor_per_round'))}" if "vs_floor" in m else ""
        if "vs_without_jwt_header" in m:
            vs += f"{'; ' if vs else ''}{m['vs_without_jwt_header']:.2f}x without set-auth-jwt"
        tg = ", ".join(("PASS " if ok else "FAIL ") + k for k, ok in m.get("targets", {}).items())
        sysname = m["system"]
        if sysname == "pgbench":
            sysname = f"pgbench floor ({bench.floors[m['scenario']]['db']})"
        none = "none completed" if m.get("rounds_with_no_completion") else "-"
        p50 = fmt_ms(m["p50_ms"]) if m["p50_ms"] is not None else none
        p99 = fmt_ms(m["p99_ms"]) if m["p99_ms"] is not None else none
        out.append(f"| {m['scenario']} | {sysname} | {fmt_rate(m['ok_rps'])} | {p50} | "
                   f"{p99} | {m['errors']} | {vs} | {fl} | {tg} |")
    storm = [m for m in summary["rows"] if m["scenario"] == "storm"]
    if storm:
        out += ["", "Storm: the get-session probe figures above were measured while the sign-in storm ran.", "",
                "| system | storm sign-in ok/s | storm sign-in errors | peak RSS MiB |", "|---|--:|--:|--:|"]
        for m in storm:
            out.append(f"| {m['system']} | {fmt_rate(m['storm_signin_ok_rps'])} | {m['storm_signin_errors']} | "
                       f"{m['peak_rss_kb'] / 1024:.0f} |")
    fan = [m for m in summary["rows"] if m["scenario"] in EVENT_SCENARIOS]
    if fan:
        out += ["", f"Live-update fan-out (tasks-events): {fan[0]['streams']} SSE streams, "
                    f"{a.fanout_per_user} per user, a writer at {a.fanout_rate:g} writes/s (half creates, half "
                    f"patches, rotating over the streams' users). ok/s above = writes/s; p50/p99 above = delivery "
                    f"latency, from the moment the writer sent the write to the moment a subscriber parsed its "
                    f"event (so it includes the write itself, next column).", "",
                "| system | writes/s (target) | streams | delivered / expected | write p50 / p99 ms | max delivery ms |",
                "|---|--:|--:|--:|--:|--:|"]
        for m in fan:
            out.append(f"| {m['system']} | {fmt_rate(m['ok_rps'])} ({a.fanout_rate:g}) | {m['streams']} | "
                       f"{m['delivered']:,} / {m['expected']:,} | "
                       f"{fmt_ms(m['write_p50_ms'])} / {fmt_ms(m['write_p99_ms'])} | {fmt_ms(m['max_delivery_ms'])} |")
    out += ["", "| system | start-up to log line ms | start-up to first HTTP ms | idle RSS MiB | processes | targets |",
            "|---|--:|--:|--:|--:|---|"]
    for s in bench.servers:
        f = s.facts
        if "idle_rss_kb" in f:
            tg = ""
            if s.name == "ours-pg" and f.get("startup_to_log_ms_median") is not None:
                ok_start = f["startup_to_log_ms_median"] <= STARTUP_TARGET_MS
                ok_rss = f["idle_rss_kb"] / 1024 <= IDLE_RSS_TARGET_MIB
                tg = (f"{'PASS' if ok_start else 'FAIL'} start-up <= {STARTUP_TARGET_MS:g} ms, "
                      f"{'PASS' if ok_rss else 'FAIL'} idle RSS <= {IDLE_RSS_TARGET_MIB:g} MiB")
            out.append(f"| {s.name} | {fmt_ms(f.get('startup_to_log_ms_median'))} | "
                       f"{fmt_ms(f.get('startup_to_http_ms_median'))} | {f['idle_rss_kb'] / 1024:.0f} | "
                       f"{f['processes']} | {tg} |")
    if bench.build:
        out += ["", f"Our service ran its **{bench.build['build']}** build ({bench.build['reason']})."]
    for build, h in bench.hash_ms_by_build.items():
        runs = " (the build the service ran)" if bench.hash_ms is h else ""
        out += ["", f"One scrypt hash (N=16384, r=16, p=1) as the service computes it, {build} build{runs}, one "
                    f"thread: median {h['median_ms']} ms over {h['rounds']} (min {h['min_ms']}, max {h['max_ms']}); "
                    f"CPU time median {h.get('cpu_median_ms')} ms."]
        d = h.get("allocator_default")
        if d:
            out += [f"With mimalloc's default purge delay (the work area paged in afresh): median {d['median_ms']} ms, "
                    f"CPU time median {d.get('cpu_median_ms')} ms."]
    if "mixed" in a.scenarios:
        out += ["", "mixed: " + ", ".join(f"{w}% {sc}" for sc, w in MIX) +
                "; its baseline is modelled (1 / sum(share / baseline ok/s)), not measured."]
    if bench.skipped:
        out += ["", "Skipped:"] + [f"- {k}: {v}" for k, v in bench.skipped.items()]
    out += ["", "README table (ours on PostgreSQL):", "", readme_table(summary)]
    variants = variants_table(summary)
    if variants:
        out += ["", "Variants of our service (same database, same rounds):", "", variants]
    out += ["", "Noise caveat: one shared 2-core machine runs the server, the load generator and PostgreSQL "
            "at once, alongside whatever else is running; expect run-to-run swings of 10-30 %. Ratios of "
            "medians from alternating rounds are more stable than absolute figures. See bench/README.md."]
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="bench/run", description="Benchmark our service against Better Auth, FastAPI and a pgbench floor.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("-c", "--connections", type=int, default=32, help="wrk and pgbench connections")
    p.add_argument("-t", "--threads", type=int, default=2, help="wrk threads / pgbench -j")
    p.add_argument("-r", "--rounds", type=int, default=3, help="rounds; systems alternate order each round")
    p.add_argument("--warmup", type=float, default=5.0, help="unrecorded warm-up seconds per system and scenario "
                   "before round 1 (0 = none)")
    p.add_argument("--db", default="pg", help="our service's databases: pg, sqlite or pg,sqlite")
    p.add_argument("--jwt-header", default="on", choices=["on", "off", "both"],
                   help="our service with get-session's set-auth-jwt header (the default), without it "
                   "(JWT_SESSION_HEADER=false, system ours-<db>-nojwt), or both, each on its own database")
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS), help="subset of " + ",".join(ALL_SYSTEMS))
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help="subset of " + ",".join(ALL_SCENARIOS))
    p.add_argument("--variants", default=",".join(VARIANTS), help="variants of our service on PostgreSQL, "
                   "measured next to it (none: no variant): " + "; ".join(f"{k}: {v['what']}" for k, v in VARIANTS.items()))
    p.add_argument("--users", type=int, default=200, help="users signed up per auth system (one session each)")
    p.add_argument("--task-users", type=int, default=50, help="users who own tasks")
    p.add_argument("--tasks-per-user", type=int, default=25, help="seeded tasks per task user (list reads 20)")
    p.add_argument("--fanout-streams", type=int, default=100, help="tasks-events: SSE streams open at once")
    p.add_argument("--fanout-per-user", type=int, default=4, help="tasks-events: streams per user (the service "
                   "allows 5 by default, TASKS_EVENTS_PER_USER)")
    p.add_argument("--fanout-rate", type=float, default=50.0, help="tasks-events: writes per second")
    p.add_argument("--fanout-writers", type=int, default=4, help="tasks-events: writer connections (threads)")
    p.add_argument("--storm-connections", type=int, default=256)
    p.add_argument("--storm-probe-connections", type=int, default=4)
    p.add_argument("--ba-workers", type=int, default=2, help="node:cluster workers for Better Auth")
    p.add_argument("--fastapi-workers", type=int, default=2, help="uvicorn workers for FastAPI")
    p.add_argument("--startup-repeats", type=int, default=3, help="timed restarts on the existing database")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    p.add_argument("--rust-log", default=os.environ.get("BENCH_RUST_LOG", "warn,api::app=info"),
                   help="RUST_LOG for our service (the default keeps the start-up line, drops per-request logs)")
    p.add_argument("--no-check", action="store_true", help="do not inspect response bodies in wrk (faster wrk, "
                   "but a 200 `null` get-session then counts as success)")
    p.add_argument("--keep-dbs", action="store_true", help="leave the bench_* databases for inspection")
    p.add_argument("--seed", type=int, default=6, help="random seed for request order")
    p.add_argument("--out", default=str(BENCH / "results"))
    a = p.parse_args(argv)
    a.db = [x for x in a.db.split(",") if x]
    a.systems = [x for x in a.systems.split(",") if x]
    a.scenarios = [x for x in a.scenarios.split(",") if x]
    a.variants = [] if a.variants == "none" else [x for x in a.variants.split(",") if x]
    for name, vals, allowed in (("--db", a.db, ["pg", "sqlite"]), ("--systems", a.systems, ALL_SYSTEMS),
                                ("--scenarios", a.scenarios, ALL_SCENARIOS), ("--variants", a.variants, list(VARIANTS))):
        bad = [v for v in vals if v not in allowed]
        if bad:
            p.error(f"{name}: unknown {bad}; choose from {allowed}")
    if a.task_users > a.users:
        p.error("--task-users must not exceed --users")
    if not 1 <= a.fanout_per_user <= 5:
        p.error("--fanout-per-user: 1 to 5 (the service's default TASKS_EVENTS_PER_USER is 5)")
    if a.fanout_streams < 1 or a.fanout_rate <= 0 or a.fanout_writers < 1:
        p.error("--fanout-streams, --fanout-rate and --fanout-writers must be positive")
    if "tasks-events" in a.scenarios and a.task_users * a.fanout_per_user < a.fanout_streams:
        log(f"note: {a.task_users} task users x {a.fanout_per_user} streams each < --fanout-streams "
            f"{a.fanout_streams}: tasks-events opens {a.task_users * a.fanout_per_user} streams")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    interrupted = False
    error = None
    started = time.time()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.setup()
        bench.run_all()
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; writing what was measured")
    except Exception as e:  # noqa: BLE001
        import traceback
        error = f"{type(e).__name__}: {e}"
        log(f"harness error, writing what was measured: {error}\n{traceback.format_exc()}")
    finally:
        bench.teardown()
    summary = bench.summarize()
    meta = bench.facts()
    result = {
        "timestamp": bench.ts, "interrupted": interrupted, "error": error, "elapsed_s": round(time.time() - started, 1),
        "params": {k: v for k, v in vars(args).items()}, "meta": meta,
        "systems": {s.name: s.facts for s in bench.servers},
        "floors": {sc: {k: v for k, v in f.items() if k != "scripts"} | {"scripts": len(f["scripts"])}
                   for sc, f in bench.floors.items()},
        "skipped": bench.skipped, "summary": summary["rows"], "runs": bench.runs,
    }
    out = bench.outdir / f"{bench.ts}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = markdown(bench, summary, meta)
    (bench.outdir / f"{bench.ts}.md").write_text(md + "\n")
    print(md)
    print(f"\nResults: {out} (logs and request files in {bench.rundir})")
    return 130 if interrupted else (1 if error else 0)


if __name__ == "__main__":
    sys.exit(main())
