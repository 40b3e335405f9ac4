#!/usr/bin/env python3
"""Drives a short load through the API while Prometheus scrapes it, then checks with PromQL over
Prometheus's HTTP API that the counts it stored are exactly the load's. Standard library only.

    check.py <api-base-url> <metrics-url> <prometheus-url> <prometheus-pid>
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

API, METRICS, PROM, PROM_PID = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
PASSWORD = "prometheus-check-password"
DEADLINE_S = 60


def fail(msg: str) -> None:
    print(f"prometheus: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def call(method: str, path: str, body: dict | None = None, bearer: str | None = None) -> tuple[int, dict, bytes]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def query(promql: str) -> list[dict]:
    """An instant query; the result vector."""
    url = f"{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        payload = json.load(resp)
    if payload.get("status") != "success":
        fail(f"query {promql!r}: {payload}")
    return payload["data"]["result"]


def prometheus_alive() -> None:
    try:
        os.kill(PROM_PID, 0)
    except OSError:
        fail("Prometheus exited")


def wait_for(what: str, probe) -> object:
    """Polls `probe` (None = not yet) until it answers or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_S
    last = None
    while time.monotonic() < deadline:
        prometheus_alive()
        try:
            last = probe()
        except (OSError, urllib.error.URLError) as err:
            last = None
            print(f"prometheus: waiting for {what}: {err}", file=sys.stderr)
        if last is not None:
            return last
        time.sleep(0.5)
    fail(f"{what}: not reached within {DEADLINE_S} s")


def by(result: list[dict], *labels: str) -> dict:
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}


# 1. Prometheus scrapes the service.
wait_for("the api target to be up", lambda: True if by(query('up{job="api"}')) == {(): 1.0} else None)
print("prometheus: the api target is up (scraped every second)")

# 2. The load; every count below is what the assertions expect.
users = []
for i in range(4):
    email = f"prom-{i}@example.com"
    status, headers, body = call("POST", "/api/auth/sign-up/email", {"name": f"P {i}", "email": email,
                                                                     "password": PASSWORD})
    if status != 200:
        fail(f"sign-up -> {status} {body[:200]!r}")
    users.append({"email": email, "bearer": headers.get("set-auth-token") or headers.get("Set-Auth-Token")})
good_sign_ins = 0
for i in range(5):
    status, _, body = call("POST", "/api/auth/sign-in/email", {"email": users[i % 4]["email"], "password": PASSWORD})
    if status != 200:
        fail(f"sign-in -> {status} {body[:200]!r}")
    good_sign_ins += 1
bad_sign_ins = 0
for email in [users[0]["email"], users[1]["email"], users[2]["email"], "nobody@example.com"]:
    status, _, body = call("POST", "/api/auth/sign-in/email", {"email": email, "password": "not-the-password"})
    if status != 401:
        fail(f"wrong-password sign-in -> {status} {body[:200]!r}")
    bad_sign_ins += 1
for i in range(12):
    status, _, body = call("GET", "/api/auth/get-session", bearer=users[i % 4]["bearer"])
    if status != 200 or b'"session"' not in body:
        fail(f"get-session -> {status} {body[:200]!r}")
task_ids = []
for i in range(6):
    status, _, body = call("POST", "/api/v1/tasks", {"title": f"task {i}"}, users[i % 2]["bearer"])
    if status not in (200, 201):
        fail(f"create task -> {status} {body[:200]!r}")
    task_ids.append((users[i % 2]["bearer"], json.loads(body)["id"]))
for i in range(3):
    status, _, _ = call("GET", "/api/v1/tasks", bearer=users[i % 2]["bearer"])
    if status != 200:
        fail(f"list tasks -> {status}")
    bearer, task_id = task_ids[i]
    status, _, _ = call("GET", f"/api/v1/tasks/{task_id}", bearer=bearer)
    if status != 200:
        fail(f"get task -> {status}")
for missing in (987654321, 987654322):
    status, _, _ = call("GET", f"/api/v1/tasks/{missing}", bearer=users[0]["bearer"])
    if status != 404:
        fail(f"get missing task -> {status}")
print(f"prometheus: load sent: 4 sign-ups, {good_sign_ins} good and {bad_sign_ins} bad sign-ins, 12 get-sessions, "
      "6 creates, 3 lists, 3 gets, 2 gets of missing tasks")

# 3. PromQL over Prometheus's API returns exactly those counts (once a scrape after the load
#    has been stored).
expected_sign_ins = {("success",): 5.0, ("wrong_credentials",): 4.0, ("email_not_verified",): 0.0,
                     ("throttled",): 0.0, ("shed",): 0.0}
expected_requests = {
    ("sign_up_email", "2xx"): 4.0, ("sign_in_email", "2xx"): 5.0, ("sign_in_email", "4xx"): 4.0,
    ("get_session", "2xx"): 12.0, ("create_task", "2xx"): 6.0, ("list_tasks", "2xx"): 3.0,
    ("get_task", "2xx"): 3.0, ("get_task", "4xx"): 2.0,
}
sign_in_query = "sum by (outcome) (api_sign_ins_total)"
requests_query = ('sum by (operation, status_class) (api_http_requests_total{operation=~"sign_up_email|'
                  'sign_in_email|get_session|create_task|list_tasks|get_task"}) > 0')


def counts_match():
    sign_ins = by(query(sign_in_query), "outcome")
    requests = by(query(requests_query), "operation", "status_class")
    return (sign_ins, requests) if sign_ins == expected_sign_ins and requests == expected_requests else None


try:
    sign_ins, requests = wait_for("the expected counts in Prometheus", counts_match)
except SystemExit:
    print(f"prometheus: last answers:\n  {sign_in_query} -> {by(query(sign_in_query), 'outcome')}\n"
          f"  {requests_query} -> {by(query(requests_query), 'operation', 'status_class')}", file=sys.stderr)
    raise
print(f"prometheus: {sign_in_query} -> {sign_ins}")
print(f"prometheus: {requests_query} -> {requests}")

# 4. The README's dashboard queries answer (rates over the scraped series).
for promql in [
    'histogram_quantile(0.99, sum by (le) (rate(api_http_request_duration_seconds_bucket{operation="get_session"}[1m])))',
    'sum(rate(api_sign_ins_total{outcome="wrong_credentials"}[1m])) / sum(rate(api_sign_ins_total[1m]))',
    "sum(api_db_pool_connections)",
    "api_password_hash_queued",
    "sum(rate(api_db_pool_acquire_wait_seconds_sum[1m])) / sum(rate(api_db_pool_acquire_wait_seconds_count[1m]))",
]:
    result = query(promql)
    if len(result) != 1 or not math.isfinite(float(result[0]["value"][1])):
        fail(f"{promql} -> {result}")
    print(f"prometheus: {promql} -> {float(result[0]['value'][1]):.6g}")
print("prometheus: PromQL counts match the load")
