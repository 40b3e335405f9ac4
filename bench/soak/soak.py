#!/usr/bin/env python3
"""Soak test (issue 18 point 4): a long mixed workload through the release service, with a
database restart in the middle, sampled every 10 s.

Run it through `bench/soak/run` (builds the release binary, installs the pinned plotting venv).
Standard library only, except the plot (matplotlib, imported at the end).

What it does:
  * starts a private PostgreSQL cluster (initdb in a temporary directory, its own port; never the
    shared server on 5432, which it must not restart) and the service on it, with METRICS_BIND;
  * signs up users, seeds tasks, then runs a paced mixed workload (get-session, task list / get /
    create / patch / delete) from several threads, plus periodic sign-ins (good and bad
    passwords) and periodic revocations of the sessions those sign-ins opened;
  * restarts the database in the middle (`pg_ctl stop -m fast`, a pause, `pg_ctl start`);
  * every 10 s samples the service's RSS and open file descriptors (/proc), its pool
    connections (from /metrics) and the p99 latency and error count of the interval;
  * writes samples.csv, summary.json, summary.md and soak.png into the output directory, and
    exits non-zero when the summary's verdict is not "pass".
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PG_BIN = Path(os.environ.get("SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))
SECRET = "soak-secret-0123456789abcdefghijklmnopqrstuvwxyz"  # loopback-only throwaway
PASSWORD = "soak-password-1234"
SAMPLE_EVERY = 10.0
DB_MAX_CONNECTIONS = 10

# The steady workload (weights in percent): what signed-in app users do.
MIX = [("get-session", 40), ("tasks-list", 20), ("tasks-get", 15), ("tasks-create", 10), ("tasks-patch", 10),
       ("tasks-delete", 5)]


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- PostgreSQL


class PrivatePostgres:
    """A throwaway cluster in a temporary directory, owned by a non-root user (initdb refuses
    root), listening on 127.0.0.1 only. Restarting it is the soak's fault injection."""

    def __init__(self, port: int, workdir: Path):
        self.port = port
        self.dir = workdir / "pgdata"
        self.log = workdir / "postgres.log"
        self.user = None
        if os.geteuid() == 0:
            self.user = os.environ.get("SOAK_PG_OS_USER", "postgres")
            pwd.getpwnam(self.user)  # fails loudly when that user does not exist
            # The data directory's parents must be traversable by that user.
            os.chmod(workdir, 0o755)
            self.dir.mkdir(mode=0o700)
            shutil.chown(self.dir, self.user, self.user)
            self.log.touch()
            shutil.chown(self.log, self.user, self.user)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd="/")

    def init(self) -> None:
        self.run("initdb", "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(self.dir / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                       "fsync = off\nmax_connections = 50\n")

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.dir), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.dir), "-m", "fast", "-w", "-t", "60", "stop", check=False)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


# --------------------------------------------------------------------------- HTTP


class Client:
    """One keep-alive connection; reconnects after any transport error."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None, bearer: str | None = None,
             timeout: float = 10.0) -> tuple[int, http.client.HTTPMessage | None, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", **({} if data is None else {"Content-Type": "application/json"}),
                   **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, resp.msg, payload
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, None, b""
        return 0, None, b""


# --------------------------------------------------------------------------- workload


@dataclass
class Interval:
    """What the load generator saw since the last sample."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sign_ins: int = 0
    revocations: int = 0


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = Interval()
        self.total_requests = 0
        self.total_errors = 0

    def record(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.current.latencies.append(seconds)
            self.total_requests += 1
            if not ok:
                self.current.errors += 1
                self.total_errors += 1

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self.current, what, getattr(self.current, what) + 1)

    def swap(self) -> Interval:
        with self.lock:
            out, self.current = self.current, Interval()
        return out


@dataclass
class User:
    email: str
    bearer: str
    tasks: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)


def sign_up(port: int, i: int) -> User:
    email = f"soak-{i:04d}@example.com"
    status, msg, body = Client(port).call("POST", "/api/auth/sign-up/email",
                                          {"name": f"Soak {i}", "email": email, "password": PASSWORD})
    if status != 200 or msg is None or not msg.get("set-auth-token"):
        raise RuntimeError(f"sign-up {email} -> {status} {body[:200]!r}")
    return User(email=email, bearer=msg["set-auth-token"], tasks=[])


def seed(port: int, users: int, tasks_per_user: int) -> list[User]:
    out = [sign_up(port, i) for i in range(users)]
    client = Client(port)
    for u in out:
        for k in range(tasks_per_user):
            status, _, body = client.call("POST", "/api/v1/tasks", {"title": f"seed {k}", "description": "soak"},
                                          u.bearer)
            if status not in (200, 201):
                raise RuntimeError(f"seed task -> {status} {body[:200]!r}")
            u.tasks.append(json.loads(body)["id"])
    return out


def pick(mix: list[tuple[str, int]], rng: random.Random) -> str:
    n = rng.randrange(sum(w for _, w in mix))
    for name, weight in mix:
        if n < weight:
            return name
        n -= weight
    return mix[-1][0]


def one_request(client: Client, user: User, op: str, rng: random.Random) -> tuple[int, bool]:
    """Runs one operation; returns (status, ok)."""
    if op == "get-session":
        status, _, _ = client.call("GET", "/api/auth/get-session", bearer=user.bearer)
        return status, status == 200
    if op == "tasks-list":
        status, _, _ = client.call("GET", "/api/v1/tasks?limit=20", bearer=user.bearer)
        return status, status == 200
    with user.lock:
        task = rng.choice(user.tasks) if user.tasks else None
    if op == "tasks-create" or task is None:
        status, _, body = client.call("POST", "/api/v1/tasks", {"title": "soak task", "description": "x"}, user.bearer)
        if status in (200, 201):
            with user.lock:
                user.tasks.append(json.loads(body)["id"])
        return status, status in (200, 201)
    if op == "tasks-get":
        status, _, _ = client.call("GET", f"/api/v1/tasks/{task}", bearer=user.bearer)
        return status, status in (200, 404)  # 404: another thread deleted it meanwhile
    if op == "tasks-patch":
        status, _, _ = client.call("PATCH", f"/api/v1/tasks/{task}", {"is_completed": rng.random() < 0.5},
                                   user.bearer)
        return status, status in (200, 404)
    # delete: keeps each user's task count steady (creates and deletes balance out)
    with user.lock:
        if len(user.tasks) <= 5 or task not in user.tasks:
            return 200, True
        user.tasks.remove(task)
    status, _, _ = client.call("DELETE", f"/api/v1/tasks/{task}", bearer=user.bearer)
    return status, status in (200, 204, 404)


def worker(port: int, users: list[User], rate: float, stop: threading.Event, rec: Recorder, seed_: int) -> None:
    """Open-loop-ish pacing: one request every 1/rate seconds, never bursting to catch up."""
    rng = random.Random(seed_)
    client = Client(port)
    interval = 1.0 / rate
    next_at = time.monotonic() + rng.random() * interval
    while not stop.is_set():
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
        next_at = max(next_at + interval, time.monotonic())
        user = rng.choice(users)
        op = pick(MIX, rng)
        started = time.perf_counter()
        _, ok = one_request(client, user, op, rng)
        rec.record(time.perf_counter() - started, ok)


def sign_in_and_revoke(port: int, users: list[User], every: float, stop: threading.Event, rec: Recorder) -> None:
    """Every `every` seconds: a good sign-in (a new session), a wrong password now and then, and
    the revocation of the session opened two rounds earlier (so sessions come and go)."""
    rng = random.Random(7)
    client = Client(port)
    opened: list[tuple[User, str, str]] = []
    n = 0
    while not stop.wait(every):
        n += 1
        user = rng.choice(users)
        started = time.perf_counter()
        status, msg, body = client.call("POST", "/api/auth/sign-in/email", {"email": user.email, "password": PASSWORD})
        rec.record(time.perf_counter() - started, status == 200)
        if status == 200 and msg is not None and msg.get("set-auth-token"):
            # The raw token (body) names the session to revoke; the signed one (header) is the bearer.
            opened.append((user, json.loads(body)["token"], msg["set-auth-token"]))
            rec.count("sign_ins")
        if n % 3 == 0:
            started = time.perf_counter()
            status, _, _ = client.call("POST", "/api/auth/sign-in/email",
                                       {"email": user.email, "password": "wrong-password-123"})
            rec.record(time.perf_counter() - started, status == 401)
        if len(opened) > 2:
            owner, token, bearer = opened.pop(0)
            started = time.perf_counter()
            status, _, _ = client.call("POST", "/api/auth/revoke-session", {"token": token}, owner.bearer)
            rec.record(time.perf_counter() - started, status == 200)
            if status == 200:
                rec.count("revocations")
                # The revoked session must be gone: get-session with it answers null.
                status, _, body = client.call("GET", "/api/auth/get-session", bearer=bearer)
                if status == 200 and body.strip() != b"null":
                    log(f"a revoked session still answers: {body[:100]!r}")
                    rec.record(0.0, False)


# --------------------------------------------------------------------------- sampling


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def pool_connections(metrics_port: int) -> tuple[int | None, int | None]:
    """(in use, idle) from /metrics; None when the scrape fails."""
    status, _, body = Client(metrics_port).call("GET", "/metrics", timeout=5)
    if status != 200:
        return None, None
    values = {}
    for line in body.decode().splitlines():
        for state in ("in_use", "idle"):
            prefix = f'api_db_pool_connections{{state="{state}"}} '
            if line.startswith(prefix):
                values[state] = int(float(line[len(prefix):]))
    return values.get("in_use"), values.get("idle")


def p99(latencies: list[float]) -> float | None:
    if len(latencies) < 2:
        return None
    return statistics.quantiles(latencies, n=100, method="inclusive")[98]


# --------------------------------------------------------------------------- summary


def summarise(rows: list[dict], restart: dict, warmup_s: float, pool_size: int) -> dict:
    """Growth after warm-up (first vs second half of the post-warm-up samples, outside the restart
    window: medians and peaks, since the allocator hands memory back in steps) and recovery after
    the restart (first clean interval, p99 before vs after)."""
    steady = [r for r in rows if r["t_s"] >= warmup_s and not (restart["down_at"] <= r["t_s"] <= restart["recovered_at"])]
    half = max(1, len(steady) // 2)
    first, last = steady[:half], steady[-half:]

    def med(rs: list[dict], key: str) -> float:
        vals = [r[key] for r in rs if r[key] is not None]
        return statistics.median(vals) if vals else float("nan")

    def slope_per_hour(key: str) -> float:
        pts = [(r["t_s"], r[key]) for r in steady if r[key] is not None]
        if len(pts) < 3:
            return float("nan")
        mt = statistics.fmean(t for t, _ in pts)
        mv = statistics.fmean(v for _, v in pts)
        den = sum((t - mt) ** 2 for t, _ in pts)
        return sum((t - mt) * (v - mv) for t, v in pts) / den * 3600 if den else float("nan")

    before = [r for r in rows if warmup_s <= r["t_s"] < restart["down_at"]]
    after = [r for r in rows if r["t_s"] > restart["recovered_at"]]
    out = {
        "samples": len(rows),
        "warmup_s": warmup_s,
        "rss_mib": {"first_half_median": med(first, "rss_mib"), "second_half_median": med(last, "rss_mib"),
                    "first_half_max": max(r["rss_mib"] for r in first), "second_half_max": max(r["rss_mib"] for r in last),
                    "max": max(r["rss_mib"] for r in rows), "slope_mib_per_hour": slope_per_hour("rss_mib")},
        "fds": {"first_half_median": med(first, "fds"), "second_half_median": med(last, "fds"),
                "first_half_max": max(r["fds"] for r in first), "second_half_max": max(r["fds"] for r in last),
                "max": max(r["fds"] for r in rows)},
        "pool_open": {"first_half_median": med(first, "pool_open"), "second_half_median": med(last, "pool_open"),
                      "first_half_max": max((r["pool_open"] or 0) for r in first),
                      "second_half_max": max((r["pool_open"] or 0) for r in last),
                      "max": max((r["pool_open"] or 0) for r in rows), "size": pool_size},
        "p99_ms": {"before_restart_median": med(before, "p99_ms"), "after_recovery_median": med(after, "p99_ms")},
        "restart": restart,
        "requests": sum(r["requests"] for r in rows),
        "errors": sum(r["errors"] for r in rows),
        "errors_outside_restart": sum(r["errors"] for r in rows
                                      if not (restart["down_at"] <= r["t_s"] <= restart["recovered_at"] + SAMPLE_EVERY)),
        "sign_ins": sum(r["sign_ins"] for r in rows),
        "revocations": sum(r["revocations"] for r in rows),
    }
    rss, fds = out["rss_mib"], out["fds"]
    checks = {
        # RSS: the second half's median and peak within 10 % (+2 MiB) of the first half's.
        "no RSS growth after warm-up": rss["second_half_median"] <= rss["first_half_median"] * 1.10 + 2
        and rss["second_half_max"] <= rss["first_half_max"] * 1.10 + 2,
        "no fd growth after warm-up": fds["second_half_max"] <= fds["first_half_max"] + 2,
        "pool within its size": out["pool_open"]["max"] <= pool_size,
        "recovered after the database restart": restart["recovery_s"] is not None and restart["recovery_s"] <= 60,
        "p99 back to its pre-restart level": out["p99_ms"]["after_recovery_median"]
        <= out["p99_ms"]["before_restart_median"] * 1.5 + 2,
        "no errors outside the restart window": out["errors_outside_restart"] == 0,
    }
    out["checks"] = checks
    out["verdict"] = "pass" if all(checks.values()) else "fail"
    return out


def write_markdown(path: Path, summary: dict, meta: dict) -> None:
    s = summary
    r = s["restart"]
    lines = [
        f"# Soak run {meta['started']}",
        "",
        f"{meta['minutes']:g} minutes, {meta['rate']:g} req/s paced over {meta['workers']} threads "
        f"({', '.join(f'{n} {w} %' for n, w in MIX)}), a sign-in every {meta['signin_every']:g} s (every third "
        f"followed by a wrong password) and a revocation after each one past the second; binary `{meta['binary']}`, "
        f"private PostgreSQL {meta['pg_version']} restarted at {r['down_at']:.0f} s (down {r['down_s']:.0f} s). "
        f"Samples every {SAMPLE_EVERY:g} s; warm-up {s['warmup_s']:.0f} s.",
        "",
        "| figure (after warm-up, outside the restart window) | first half median / max | second half median / max "
        "| whole run max |",
        "|---|--:|--:|--:|",
        *[f"| {label} | {s[k]['first_half_median']:.{d}f} / {s[k]['first_half_max']:.{d}f} | "
          f"{s[k]['second_half_median']:.{d}f} / {s[k]['second_half_max']:.{d}f} | {s[k]['max']:.{d}f} |"
          for label, k, d in [("RSS MiB", "rss_mib", 1), ("open fds", "fds", 0),
                              (f"pool connections open (pool size {s['pool_open']['size']})", "pool_open", 0)]],
        "",
        f"RSS slope after warm-up: {s['rss_mib']['slope_mib_per_hour']:+.2f} MiB/hour.",
        f"p99 (median of the 10 s intervals): {s['p99_ms']['before_restart_median']:.1f} ms before the restart, "
        f"{s['p99_ms']['after_recovery_median']:.1f} ms after recovery.",
        f"Restart: the first interval without errors ended {r['recovery_s']} s after PostgreSQL was back; "
        f"{s['errors']} failed requests of {s['requests']}, {s['errors_outside_restart']} outside the restart window; "
        f"{s['sign_ins']} sign-ins, {s['revocations']} revocations.",
        "",
        "| check | result |",
        "|---|---|",
        *[f"| {name} | {'pass' if ok else 'FAIL'} |" for name, ok in s["checks"].items()],
        "",
        f"Verdict: **{s['verdict']}**.",
    ]
    path.write_text("\n".join(lines) + "\n")


def plot(rows: list[dict], restart: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] / 60 for r in rows]
    fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    series = [("rss_mib", "RSS (MiB)"), ("fds", "open file descriptors"), ("pool_open", "pool connections open"),
              ("p99_ms", "p99 latency per 10 s (ms)")]
    for ax, (key, label) in zip(axes, series):
        ax.plot(t, [r[key] if r[key] is not None else float("nan") for r in rows], marker=".", linewidth=1)
        ax.set_ylabel(label)
        ax.axvspan(restart["down_at"] / 60, restart["up_at"] / 60, color="red", alpha=0.2,
                   label="PostgreSQL down")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    ax2 = axes[3].twinx()
    ax2.bar(t, [r["errors"] for r in rows], width=SAMPLE_EVERY / 60 * 0.8, color="orange", alpha=0.5)
    ax2.set_ylabel("failed requests", color="orange")
    axes[0].legend(loc="lower right")
    axes[-1].set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


# --------------------------------------------------------------------------- main


def wait_listening(proc: subprocess.Popen, logfile: Path, port: int, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {logfile.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} is not listening after 60 s")


def main() -> int:
    minutes = env_float("SOAK_MINUTES", 30)
    rate = env_float("SOAK_RATE", 150)
    workers = int(env_float("SOAK_WORKERS", 6))
    signin_every = env_float("SOAK_SIGNIN_EVERY", 2)
    down_s = env_float("SOAK_DB_DOWN_SECONDS", 10)
    binary = Path(os.environ.get("SOAK_API_BIN", ROOT / "target" / "release" / "api")).resolve()
    out = Path(os.environ.get("SOAK_OUT", HERE / "runs" / time.strftime("%Y%m%d-%H%M%S"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    duration = minutes * 60
    restart_at = env_float("SOAK_RESTART_AT_MINUTES", minutes / 2) * 60
    warmup_s = env_float("SOAK_WARMUP_MINUTES", min(5.0, minutes / 5)) * 60

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    pg = PrivatePostgres(int(os.environ.get("SOAK_PG_PORT", 55432)), work)
    api: subprocess.Popen | None = None
    stop = threading.Event()
    try:
        log(f"private PostgreSQL in {work} on 127.0.0.1:{pg.port}")
        pg.init()
        pg.start()
        pg_version = pg.run("postgres", "--version").stdout.split()[2]
        port, metrics_port = free_port(), free_port()
        env = {"PATH": os.environ["PATH"], "HOME": str(work), "APP_ENV": "production", "BIND": "127.0.0.1",
               "PORT": str(port), "DATABASE_URL": pg.url, "AUTH_SECRET": SECRET, "RATE_LIMIT_ENABLED": "false",
               "RUST_LOG": "warn,api::app=info", "LOG_FORMAT": "json", "DATA_DIR": str(work),
               "METRICS_BIND": f"127.0.0.1:{metrics_port}", "TASKS_PER_USER_LIMIT": "100000",
               "DB_MAX_CONNECTIONS": str(DB_MAX_CONNECTIONS)}
        # The pool holds DB_MAX_CONNECTIONS for requests plus the two PostgreSQL listeners' own.
        pool_size = DB_MAX_CONNECTIONS + 2
        api_log = work / "api.log"
        with open(api_log, "w") as f:
            api = subprocess.Popen([str(binary)], env=env, cwd=work, stdout=f, stderr=subprocess.STDOUT)
        wait_listening(api, api_log, port, "the service")
        log(f"service pid {api.pid} on :{port}, metrics on :{metrics_port}; seeding")
        users = seed(port, int(env_float("SOAK_USERS", 20)), 20)
        rec = Recorder()
        threads = [threading.Thread(target=worker, args=(port, users, rate / workers, stop, rec, i), daemon=True)
                   for i in range(workers)]
        threads.append(threading.Thread(target=sign_in_and_revoke, args=(port, users, signin_every, stop, rec),
                                        daemon=True))
        rec.swap()
        t0 = time.monotonic()
        for th in threads:
            th.start()
        log(f"load running for {minutes:g} min at {rate:g} req/s; database restart at {restart_at / 60:g} min")

        restart = {"down_at": restart_at, "up_at": restart_at + down_s, "down_s": down_s, "recovered_at": None,
                   "recovery_s": None, "done": False}

        def restart_db() -> None:
            if stop.wait(restart_at):
                return
            log("stopping PostgreSQL (fast)")
            pg.stop()
            restart["down_at"] = time.monotonic() - t0
            stop.wait(down_s)
            pg.start()
            restart["up_at"] = time.monotonic() - t0
            restart["down_s"] = restart["up_at"] - restart["down_at"]
            restart["done"] = True
            log("PostgreSQL is back")

        restarter = threading.Thread(target=restart_db, daemon=True)
        restarter.start()

        rows: list[dict] = []
        csv = open(out / "samples.csv", "w")
        csv.write("t_s,rss_mib,fds,pool_in_use,pool_idle,pool_open,requests,errors,p99_ms,sign_ins,revocations\n")
        next_sample = t0 + SAMPLE_EVERY
        while next_sample <= t0 + duration + 0.01:
            time.sleep(max(0.0, next_sample - time.monotonic()))
            next_sample += SAMPLE_EVERY
            if api.poll() is not None:
                raise RuntimeError(f"the service exited with {api.returncode}")
            iv = rec.swap()
            in_use, idle = pool_connections(metrics_port)
            row = {"t_s": round(time.monotonic() - t0, 1), "rss_mib": round(proc_rss_kib(api.pid) / 1024, 2),
                   "fds": open_fds(api.pid), "pool_in_use": in_use, "pool_idle": idle,
                   "pool_open": None if in_use is None else in_use + idle, "requests": len(iv.latencies),
                   "errors": iv.errors, "p99_ms": None if p99(iv.latencies) is None else round(p99(iv.latencies) * 1000, 2),
                   "sign_ins": iv.sign_ins, "revocations": iv.revocations}
            rows.append(row)
            csv.write(",".join("" if row[k] is None else str(row[k]) for k in row) + "\n")
            csv.flush()
            if restart["done"] and restart["recovered_at"] is None and row["errors"] == 0:
                restart["recovered_at"] = row["t_s"]
                restart["recovery_s"] = round(row["t_s"] - restart["up_at"], 1)
            log(f"t={row['t_s']:6.0f}s rss={row['rss_mib']:.1f}MiB fds={row['fds']} pool={row['pool_open']} "
                f"req={row['requests']} err={row['errors']} p99={row['p99_ms']}ms")
        stop.set()
        for th in threads:
            th.join(timeout=15)
        csv.close()
        if restart["recovered_at"] is None:
            restart["recovered_at"] = duration + SAMPLE_EVERY
        summary = summarise(rows, restart, warmup_s, pool_size)
        meta = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - duration)),
                "minutes": minutes, "rate": rate, "workers": workers, "signin_every": signin_every,
                "binary": str(binary.relative_to(ROOT)) if binary.is_relative_to(ROOT) else str(binary), "pg_version": pg_version}
        (out / "summary.json").write_text(json.dumps({"meta": meta, **summary}, indent=2) + "\n")
        write_markdown(out / "summary.md", summary, meta)
        plot(rows, restart, out / "soak.png",
             f"soak: {minutes:g} min, {rate:g} req/s, PostgreSQL restarted at {restart['down_at'] / 60:.1f} min")
        log(f"verdict {summary['verdict']}; results in {out}")
        print((out / "summary.md").read_text())
        return 0 if summary["verdict"] == "pass" else 1
    finally:
        stop.set()
        if api is not None and api.poll() is None:
            api.send_signal(signal.SIGTERM)
            try:
                api.wait(timeout=20)
            except subprocess.TimeoutExpired:
                api.kill()
        pg.stop()
        if os.environ.get("SOAK_KEEP_TMP") == "1":
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
