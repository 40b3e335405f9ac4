"""A short client flow with the Python client generated from openapi.yaml by
openapi-python-client, against a live server: sign up, create a task, list, update (PATCH with
If-Match, PUT), delete; a create retried with one Idempotency-Key; an incremental sync with the
change feed (first sync, a change and a delete, the next sync from next_cursor); a JWT for other
backends and the key set that lists its key (`/api/auth/token`, `/api/auth/jwks`,
`/.well-known/jwks.json`; the signature itself is verified by the TypeScript flow); the live-update
stream and its resumption with Last-Event-ID; sign out. Before the tasks, two-factor sign-in:
enable with the password, confirm with a TOTP code computed here, sign out, sign in and get the
second step, complete it with a backup code from a client without cookies (the
`set-two-factor-token` value sent back as the `two-factor-token` header), turn it off. Bearer
auth: an AuthenticatedClient with the latest `set-auth-token` value.

The generated `stream_task_events` reads the whole answer before returning, and an event
stream never ends: the flow reads the stream with httpx (the generated client's own
`get_httpx_client()`, so with its base URL and bearer token), parses the SSE framing itself and
the events' data with the generated `TaskEvent` model.

    python contract/python/flow.py <generated-package-parent-dir> <base-url>

scripts/contract generates the client into a temporary directory and runs this. The generated
package is imported as `api_client` (generated with --meta none).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, sys.argv[1])
BASE_URL = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"

from api_client import AuthenticatedClient, Client  # noqa: E402
from api_client.api.auth import (  # noqa: E402
    get_jwks,
    get_session,
    get_token,
    get_well_known_jwks,
    sign_in_email,
    sign_out,
    sign_up_email,
)
from api_client.api.tasks import (  # noqa: E402
    create_task,
    delete_task,
    get_task,
    list_task_changes,
    list_tasks,
    replace_task,
    update_task,
)
from api_client.api.two_factor import (  # noqa: E402
    disable_two_factor,
    enable_two_factor,
    verify_backup_code,
    verify_totp,
)
from api_client.models import (  # noqa: E402
    CreateTaskRequest,
    EnableTwoFactorRequest,
    EnableTwoFactorResponse,
    Error,
    JsonWebKeySet,
    PatchTaskRequest,
    ReplaceTaskRequest,
    SignInRequest,
    SignUpRequest,
    SignUpResponse,
    Task,
    TaskChange,
    TaskChanges,
    TaskEvent,
    TaskPage,
    TokenResponse,
    TwoFactorPasswordRequest,
    TwoFactorRedirect,
    TwoFactorVerified,
    VerifyBackupCodeRequest,
    VerifyCodeRequest,
)

PASSWORD = "correct horse battery staple"

failures = 0


def check(cond: bool, what: str, detail: object = None) -> None:
    global failures
    if cond:
        print(f"  ok   {what}")
    else:
        failures += 1
        print(f"  FAIL {what}" + ("" if detail is None else f": {detail!r}"))


class Stop(Exception):
    pass


def must(cond: bool, what: str, detail: object = None) -> None:
    check(cond, what, detail)
    if not cond:
        raise Stop(what)


def header(response, name: str) -> str | None:
    return response.headers.get(name)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """(event, id, data) of each Server-Sent Event; comment lines (heartbeats) are skipped."""
    event, event_id, data = "message", "", []
    for line in lines:
        if line == "":
            if data:
                yield event, event_id, "\n".join(data)
            event, event_id, data = "message", "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
        elif field == "event":
            event = value


def sync_from(client: AuthenticatedClient, since: str | None) -> tuple[list[TaskChange], str]:
    """Every change after `since` (pages of 2 until has_more is false) and the cursor to keep."""
    changes: list[TaskChange] = []
    cursor = since
    while True:
        kwargs = {"limit": 2} if cursor is None else {"since": cursor, "limit": 2}
        page = list_task_changes.sync_detailed(client=client, **kwargs)
        must(page.status_code == 200 and isinstance(page.parsed, TaskChanges), "the change feed answers a page", page.content)
        changes.extend(page.parsed.changes)
        cursor = page.parsed.next_cursor
        if not page.parsed.has_more:
            return changes, cursor


def next_change(stream, what: str) -> tuple[str, TaskEvent]:
    """The next `change` event of an open stream, parsed with the generated model."""
    try:
        event, event_id, data = next(stream)
    except Exception as exc:  # noqa: BLE001 - a timeout or the end of the stream is the finding
        must(False, f"{what}: an event arrives within 5 s", f"{type(exc).__name__}: {exc}")
    check(event == "change" and event_id != "", f"{what}: a 'change' event with an id", (event, event_id))
    parsed = TaskEvent.from_dict(json.loads(data))
    check(parsed.cursor == event_id, f"{what}: the event's cursor is its id", data)
    return event_id, parsed


def open_events(client: AuthenticatedClient, last_event_id: str | None = None):
    """Opens the live-update stream with the generated client's httpx client (5 s read timeout)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    return client.get_httpx_client().stream("GET", "/api/v1/tasks/events", headers=headers, timeout=5.0)


def idempotency_sync_and_events(client: AuthenticatedClient) -> None:
    # A create retried with one Idempotency-Key: one task, and the retry gets the first answer.
    key = f"py-create-{uuid.uuid4().hex}"
    first = create_task.sync_detailed(client=client, body=CreateTaskRequest(title="Pay rent"), idempotency_key=key)
    must(first.status_code == 201 and isinstance(first.parsed, Task), "create with an Idempotency-Key answers 201", first.content)
    rent = first.parsed
    retry = create_task.sync_detailed(client=client, body=CreateTaskRequest(title="Pay rent"), idempotency_key=key)
    check(retry.status_code == 201 and isinstance(retry.parsed, Task) and retry.parsed.id == rent.id,
          "the retry answers 201 with the same task", retry.content)
    check(header(retry, "location") == header(first, "location"), "the retry has the same Location")
    check(header(retry, "etag") == header(first, "etag"), "the retry has the same ETag")
    reused = create_task.sync_detailed(client=client, body=CreateTaskRequest(title="Something else"), idempotency_key=key)
    check(reused.status_code == 422 and isinstance(reused.parsed, Error) and reused.parsed.code == "IDEMPOTENCY_KEY_REUSED",
          "the key for another request is 422 IDEMPOTENCY_KEY_REUSED", reused.content)

    # Incremental sync: a first sync, a change and a delete, the next sync from the kept cursor.
    extra = create_task.sync_detailed(client=client, body=CreateTaskRequest(title="Call mum"))
    must(extra.status_code == 201 and isinstance(extra.parsed, Task), "create a second task", extra.content)
    extra = extra.parsed
    changes, cursor = sync_from(client, None)
    alive = [c.task.id for c in changes if not c.deleted and isinstance(c.task, Task)]
    check(rent.id in alive and extra.id in alive, "the first sync has both tasks", changes)
    check(sum(1 for c in changes if c.id == rent.id) == 1, "the retried create is one task in the feed", changes)
    done = update_task.sync_detailed(rent.id, client=client, body=PatchTaskRequest(is_completed=True), if_match=header(first, "etag"))
    check(done.status_code == 200, "patch the first task", done.content)
    gone = delete_task.sync_detailed(extra.id, client=client)
    check(gone.status_code == 204, "delete the second task", gone.content)
    changes, cursor = sync_from(client, cursor)
    check(len(changes) == 2
          and changes[0].id == rent.id and not changes[0].deleted and isinstance(changes[0].task, Task)
          and changes[0].task.is_completed is True
          and changes[1].id == extra.id and changes[1].deleted and changes[1].task is None,
          "the next sync sees the change and the deletion, oldest first", changes)
    quiet, _ = sync_from(client, cursor)
    check(quiet == [], "a sync with nothing new is empty", quiet)

    # Live updates: a change made through another request arrives on the stream; after a
    # disconnection, Last-Event-ID resumes with what was missed.
    with open_events(client) as response:
        check(response.status_code == 200, "the event stream opens (200)", response.status_code)
        check(response.headers.get("content-type", "").startswith("text/event-stream"), "the stream is text/event-stream")
        events = sse_events(response.iter_lines())
        milk = create_task.sync_detailed(client=client, body=CreateTaskRequest(title="Oat milk"))
        must(milk.status_code == 201 and isinstance(milk.parsed, Task), "create a task while streaming", milk.content)
        milk = milk.parsed
        seen_id, seen = next_change(events, "live")
        check(seen.id == milk.id and not seen.deleted and isinstance(seen.task, Task) and seen.task.title == "Oat milk",
              "the stream carries the new task", seen)
    missed = update_task.sync_detailed(milk.id, client=client, body=PatchTaskRequest(is_completed=True))
    check(missed.status_code == 200, "patch the task while disconnected", missed.content)
    with open_events(client, seen_id) as response:
        check(response.status_code == 200, "the event stream opens with Last-Event-ID (200)", response.status_code)
        _, caught = next_change(sse_events(response.iter_lines()), "resumed")
        check(caught.id == milk.id and isinstance(caught.task, Task) and caught.task.is_completed is True,
              "Last-Event-ID resumes with the missed change", caught)
    from_event, _ = sync_from(client, seen_id)
    check(len(from_event) == 1 and from_event[0].id == milk.id, "an event id is a sync cursor too", from_event)


def totp_now(uri: str) -> str:
    """The current RFC 6238 code of a `totpURI` (HMAC-SHA-1, 30 s, 6 digits), as an app shows it."""
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[19] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def bearer(token: str | None, what: str) -> AuthenticatedClient:
    must(bool(token), what)
    return AuthenticatedClient(base_url=BASE_URL, token=token, raise_on_unexpected_status=True)


def two_factor_flow(client: AuthenticatedClient, email: str, user_id: str) -> AuthenticatedClient:
    """Two-factor sign-in for the signed-in user; returns the bearer client of the session that
    replaced theirs when it was turned off."""
    enabled = enable_two_factor.sync_detailed(client=client, body=EnableTwoFactorRequest(password=PASSWORD))
    must(enabled.status_code == 200 and isinstance(enabled.parsed, EnableTwoFactorResponse),
         "two-factor enable answers 200", enabled.content)
    codes = enabled.parsed.backup_codes
    check(len(codes) == 10, "ten backup codes", codes)

    confirmed = verify_totp.sync_detailed(client=client, body=VerifyCodeRequest(code=totp_now(enabled.parsed.totp_uri)))
    check(confirmed.status_code == 200 and isinstance(confirmed.parsed, TwoFactorVerified)
          and confirmed.parsed.user.two_factor_enabled is True, "a first TOTP code turns two-factor on", confirmed.content)
    client = bearer(header(confirmed, "set-auth-token"), "confirming replaces the session (set-auth-token)")
    out = sign_out.sync_detailed(client=client)
    check(out.status_code == 200, "sign-out answers 200", out.content)

    # Fresh clients: httpx keeps cookies, and this is the path of a client without them.
    signed_in = sign_in_email.sync_detailed(
        client=Client(base_url=BASE_URL, raise_on_unexpected_status=True),
        body=SignInRequest(email=email, password=PASSWORD),
    )
    must(signed_in.status_code == 200 and isinstance(signed_in.parsed, TwoFactorRedirect)
         and signed_in.parsed.two_factor_redirect is True, "sign-in asks for the second factor", signed_in.content)
    check(header(signed_in, "set-auth-token") is None, "no session before the second factor")
    pending = header(signed_in, "set-two-factor-token")
    must(bool(pending), "sign-in sends set-two-factor-token")

    verified = verify_backup_code.sync_detailed(
        client=Client(base_url=BASE_URL, raise_on_unexpected_status=True),
        body=VerifyBackupCodeRequest(code=codes[0]),
        two_factor_token=pending,
    )
    check(verified.status_code == 200 and isinstance(verified.parsed, TwoFactorVerified)
          and verified.parsed.user.id == user_id, "a backup code completes the sign-in", verified.content)
    client = bearer(header(verified, "set-auth-token"), "the second step sends set-auth-token")
    session = get_session.sync_detailed(client=client)
    check(getattr(getattr(session.parsed, "user", None), "two_factor_enabled", None) is True,
          "the new session works and says two-factor is on", session.content)

    disabled = disable_two_factor.sync_detailed(client=client, body=TwoFactorPasswordRequest(password=PASSWORD))
    check(disabled.status_code == 200 and getattr(disabled.parsed, "status", None) is True,
          "two-factor disable answers {status: true}", disabled.content)
    client = bearer(header(disabled, "set-auth-token"), "disabling replaces the session (set-auth-token)")
    after = get_session.sync_detailed(client=client)
    check(getattr(getattr(after.parsed, "user", None), "two_factor_enabled", None) is False,
          "get-session says two-factor is off", after.content)
    return client


def main() -> None:
    print(f"Python client (openapi-python-client) against {BASE_URL}")
    email = f"py-{uuid.uuid4().hex[:12]}@example.com"
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)

    signed_up = sign_up_email.sync_detailed(
        client=anonymous,
        body=SignUpRequest(name="Py Client", email=email, password=PASSWORD),
    )
    must(signed_up.status_code == 200, "sign-up answers 200", (signed_up.status_code, signed_up.content))
    must(isinstance(signed_up.parsed, SignUpResponse), "sign-up parses as SignUpResponse", signed_up.parsed)
    user = signed_up.parsed.user
    check(user.email == email, "sign-up returns the user", user)
    token = header(signed_up, "set-auth-token")
    must(bool(token), "sign-up sends set-auth-token")

    client = AuthenticatedClient(base_url=BASE_URL, token=token, raise_on_unexpected_status=True)

    session = get_session.sync_detailed(client=client)
    check(session.status_code == 200 and getattr(getattr(session.parsed, "user", None), "id", None) == user.id,
          "get-session sees the bearer session", session.content)

    # The `jwt` plugin: a JWT for other backends, and the key set that lists its key.
    check(bool(header(session, "set-auth-jwt")), "get-session sends set-auth-jwt", dict(session.headers))
    issued = get_token.sync_detailed(client=client)
    must(issued.status_code == 200 and isinstance(issued.parsed, TokenResponse), "token answers 200 with a TokenResponse",
         issued.content)
    jwt_header, jwt_claims = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
                              for part in issued.parsed.token.split(".")[:2])
    check(jwt_claims.get("sub") == user.id, "the JWT's sub is the user", jwt_claims)
    key_set = get_jwks.sync_detailed(client=anonymous)
    must(key_set.status_code == 200 and isinstance(key_set.parsed, JsonWebKeySet), "jwks answers 200 with a JsonWebKeySet",
         key_set.content)
    check(bool(header(key_set, "etag")) and bool(header(key_set, "cache-control")), "jwks is cacheable", dict(key_set.headers))
    check(jwt_header.get("kid") in [key.kid for key in key_set.parsed.keys], "the key set lists the JWT's key",
          (jwt_header, key_set.content))
    well_known = get_well_known_jwks.sync_detailed(client=anonymous)
    check(well_known.status_code == 200 and well_known.parsed == key_set.parsed,
          "/.well-known/jwks.json serves the same key set", well_known.content)
    client = two_factor_flow(client, email, user.id)

    created = create_task.sync_detailed(client=client, body=CreateTaskRequest(title="Buy milk", description="2 litres"))
    must(created.status_code == 201 and isinstance(created.parsed, Task), "create answers 201 with a Task", created.content)
    task = created.parsed
    check(task.title == "Buy milk" and task.owner_id == user.id and task.is_completed is False, "created task has the fields sent", task)
    check(header(created, "location") == f"/api/v1/tasks/{task.id}", "create sends Location", dict(created.headers))
    etag = header(created, "etag")
    must(bool(etag), "create sends ETag")

    listed = list_tasks.sync_detailed(client=client, limit=10, completed=False)
    must(listed.status_code == 200 and isinstance(listed.parsed, TaskPage), "list answers 200 with a TaskPage", listed.content)
    check([t.id for t in listed.parsed.items] == [task.id], "list contains the task", listed.parsed)

    patched = update_task.sync_detailed(task.id, client=client, body=PatchTaskRequest(is_completed=True), if_match=etag)
    check(patched.status_code == 200 and isinstance(patched.parsed, Task) and patched.parsed.is_completed is True,
          "patch with If-Match updates", patched.content)
    new_etag = header(patched, "etag")

    stale = replace_task.sync_detailed(
        task.id, client=client, body=ReplaceTaskRequest(title="Stale write", is_completed=False), if_match=etag
    )
    check(stale.status_code == 412 and isinstance(stale.parsed, Error) and stale.parsed.code == "PRECONDITION_FAILED",
          "put with a stale ETag is 412 PRECONDITION_FAILED", stale.content)

    replaced = replace_task.sync_detailed(
        task.id, client=client, body=ReplaceTaskRequest(title="Buy oat milk", is_completed=False), if_match=new_etag
    )
    check(replaced.status_code == 200 and isinstance(replaced.parsed, Task) and replaced.parsed.title == "Buy oat milk"
          and replaced.parsed.description is None, "put with the current ETag replaces", replaced.content)

    fetched = get_task.sync_detailed(task.id, client=client)
    check(fetched.status_code == 200 and isinstance(fetched.parsed, Task) and fetched.parsed.title == "Buy oat milk",
          "get shows the replaced task", fetched.content)

    deleted = delete_task.sync_detailed(task.id, client=client)
    check(deleted.status_code == 204, "delete answers 204", deleted.content)

    gone = get_task.sync_detailed(task.id, client=client)
    check(gone.status_code == 404 and isinstance(gone.parsed, Error) and gone.parsed.code == "TASK_NOT_FOUND",
          "deleted task is 404 TASK_NOT_FOUND", gone.content)

    idempotency_sync_and_events(client)

    # No body: the spec makes it optional (the generated client still sends Content-Type).
    out = sign_out.sync_detailed(client=client)
    check(out.status_code == 200 and getattr(out.parsed, "success", None) is True, "sign-out answers {success: true}", out.content)

    after = list_tasks.sync_detailed(client=client)
    check(after.status_code == 401 and isinstance(after.parsed, Error) and after.parsed.code == "UNAUTHORIZED",
          "the token is dead after sign-out", after.content)

    # get-session without a session answers 200 with a JSON `null` body; the generated client
    # must be able to parse that (it needs the 200 schema to be nullable).
    # A new Client: the first one keeps the sign-up cookie in its httpx cookie jar.
    try:
        nobody = get_session.sync_detailed(client=Client(base_url=BASE_URL, raise_on_unexpected_status=True))
        check(nobody.status_code == 200 and nobody.parsed is None, "get-session without a session parses as None", nobody.content)
    except Exception as exc:  # noqa: BLE001 - any crash here is the finding
        check(False, "get-session without a session parses as None", f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    try:
        main()
    except Stop:
        pass
    except Exception as exc:  # noqa: BLE001
        failures += 1
        print(f"  FAIL unexpected {type(exc).__name__}: {exc}")
    print("Python client flow: passed" if failures == 0 else f"Python client flow: {failures} failure(s)")
    sys.exit(0 if failures == 0 else 1)
