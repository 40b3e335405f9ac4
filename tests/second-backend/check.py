"""Drives the second backend (app.py) against real auth servers; see run.sh.

    python check.py <path-to-api-binary> <work-dir>

Starts four instances of the auth service (SQLite, loopback, clean environment):

- `main` and `short` on one database (one key table: the same signing key), issuer
  `http://auth.test`, audience `tasks-worker`; `short` issues tokens that expire after 1 s;
- `other-audience` on that database too, with audience `another-service`;
- `foreign`, another deployment: its own database and so its own key.

Then the FastAPI app, configured with only `main`'s JWKS URL, issuer and audience. Checks that
`/whoami` answers the user for a token from `/token` and from get-session's `set-auth-jwt`, and
refuses (401, with the reason) a missing token, a tampered one, an expired one, one for another
audience, one signed by the foreign key, and an HS256 token "signed" with the public key.
Stops every process it started, by PID. Exits non-zero on the first failure. Standard library
only, besides the app itself.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ISSUER = "http://auth.test"
AUDIENCE = "tasks-worker"
ORIGIN = "http://localhost:3000"
PASSWORD = "correct horse battery"
HERE = os.path.dirname(os.path.abspath(__file__))

processes = []


def fail(message):
    print(f"second backend: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def request(method, url, body=None, headers=None):
    """(status, headers, text) without raising on 4xx/5xx."""
    data = json.dumps(body).encode() if body is not None else None
    headers = dict(headers or {})
    if data is not None:
        headers["content-type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            return res.status, res.headers, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(api, work, name, database, **extra):
    """Starts one auth instance; returns its base URL once it logs `listening on`."""
    log = open(os.path.join(work, f"{name}.log"), "w")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": work,
        "BIND": "127.0.0.1",
        "PORT": "0",
        "AUTH_SECRET": SECRET,
        "LOG_FORMAT": "json",
        "RUST_LOG": "info",
        "DATABASE_URL": f"sqlite://{work}/{database}.db?mode=rwc",
        "DATA_DIR": work,
        "TRUSTED_ORIGINS": ORIGIN,
        "RATE_LIMIT_ENABLED": "false",
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        **extra,
    }
    proc = subprocess.Popen([api], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    processes.append((name, proc))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log.name) as text:
            found = re.search(r"listening on (http://[0-9.:]+)", text.read())
        if found:
            return found.group(1)
        expect(proc.poll() is None, f"{name} exited before listening; see {log.name}")
        time.sleep(0.1)
    fail(f"{name} did not log `listening on` within 30 s")


def start_app(python, jwks_url):
    port = free_port()
    env = {**os.environ, "JWKS_URL": jwks_url, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}
    proc = subprocess.Popen(
        [python, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=HERE,
        env=env,
    )
    processes.append(("second backend", proc))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        expect(proc.poll() is None, "the FastAPI app exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return base
        except OSError:
            time.sleep(0.1)
    fail("the FastAPI app is not accepting connections after 30 s")


def sign_up(base, address):
    status, headers, text = request(
        "POST", f"{base}/api/auth/sign-up/email", {"name": "Py", "email": address, "password": PASSWORD}, {"origin": ORIGIN}
    )
    expect(status == 200, f"sign-up at {base}: {status} {text}")
    return json.loads(text)["user"]["id"], headers["set-auth-token"]


def token_at(base, bearer):
    status, _, text = request("GET", f"{base}/api/auth/token", headers={"authorization": f"Bearer {bearer}"})
    expect(status == 200, f"/token at {base}: {status} {text}")
    return json.loads(text)["token"]


def whoami(app, token):
    status, _, text = request("GET", f"{app}/whoami", headers={"authorization": f"Bearer {token}"} if token else {})
    return status, json.loads(text)


def refused(app, token, reason, what):
    status, body = whoami(app, token)
    expect(status == 401, f"{what}: expected 401, got {status} {body}")
    expect(reason in body.get("detail", ""), f"{what}: expected the reason {reason!r}, got {body}")
    print(f"second backend: refused {what} ({body['detail']})")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main(api, python, work):
    main_url = start_api(api, work, "main", "shared")
    # Let `main` create the one key before the others start asking for it.
    status, _, keys = request("GET", f"{main_url}/api/auth/jwks")
    expect(status == 200, f"JWKS: {status} {keys}")
    short_url = start_api(api, work, "short", "shared", JWT_EXPIRES_IN="1")
    other_audience_url = start_api(api, work, "other-audience", "shared", JWT_AUDIENCE="another-service")
    foreign_url = start_api(api, work, "foreign", "foreign")
    app = start_app(python, f"{main_url}/api/auth/jwks")
    print(f"second backend: auth at {main_url}, FastAPI at {app}")

    user_id, bearer = sign_up(main_url, f"py-{secrets.token_hex(4)}@example.com")
    token = token_at(main_url, bearer)
    status, body = whoami(app, token)
    expect(status == 200 and body["sub"] == user_id, f"a token from /token: {status} {body}")
    status, headers, text = request("GET", f"{main_url}/api/auth/get-session", headers={"authorization": f"Bearer {bearer}"})
    session_jwt = headers.get("set-auth-jwt")
    expect(status == 200 and session_jwt, f"get-session gives set-auth-jwt: {status} {text}")
    status, body = whoami(app, session_jwt)
    expect(status == 200 and body["sub"] == user_id, f"the set-auth-jwt token: {status} {body}")
    print(f"second backend: /whoami answered {user_id} for both tokens")

    refused(app, None, "missing", "no token")
    header, payload, signature = token.split(".")
    forged = json.loads(unb64(payload)) | {"sub": "someone-else"}
    refused(app, f"{header}.{b64(json.dumps(forged).encode())}.{signature}", "bad signature", "a tampered token")
    refused(app, token_at(other_audience_url, bearer), "wrong audience", "a token for another audience")
    expiring = token_at(short_url, bearer)
    status, _ = whoami(app, expiring)
    expect(status == 200, "the short-lived token is accepted while it is valid")
    time.sleep(2.2)
    refused(app, expiring, "expired", "an expired token")
    _, foreign_bearer = sign_up(foreign_url, f"py-{secrets.token_hex(4)}@example.com")
    refused(app, token_at(foreign_url, foreign_bearer), "unknown signing key", "a token signed by another deployment's key")
    # Algorithm confusion: HS256 with the public key as the HMAC secret, under the real kid.
    kid = json.loads(unb64(header))["kid"]
    status, _, keys = request("GET", f"{main_url}/api/auth/jwks")
    public = next(key for key in json.loads(keys)["keys"] if key["kid"] == kid)
    confused_header = b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    signing_input = f"{confused_header}.{payload}".encode()
    mac = hmac.new(json.dumps(public).encode(), signing_input, hashlib.sha256).digest()
    refused(app, f"{confused_header}.{payload}.{b64(mac)}", "invalid token", "an HS256 token made with the public key")
    print("second backend: passed")


SECRET = secrets.token_hex(24)

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: check.py <api-binary> <work-dir>")
    try:
        main(sys.argv[1], sys.executable, sys.argv[2])
    finally:
        for name, proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    print(f"second backend: {name} ignored SIGTERM; killing it", file=sys.stderr)
                    proc.kill()
                    proc.wait()
