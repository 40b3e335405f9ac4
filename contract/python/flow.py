"""A short client flow with the Python client generated from openapi.yaml by
openapi-python-client, against a live server: sign up, create a task, list, update (PATCH with
If-Match, PUT), delete, sign out. Bearer auth: an AuthenticatedClient with the `set-auth-token`
value from sign-up.

    python contract/python/flow.py <generated-package-parent-dir> <base-url>

scripts/contract generates the client into a temporary directory and runs this. The generated
package is imported as `api_client` (generated with --meta none).
"""

from __future__ import annotations

import sys
import uuid

sys.path.insert(0, sys.argv[1])
BASE_URL = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"

from api_client import AuthenticatedClient, Client  # noqa: E402
from api_client.api.auth import get_session, sign_out, sign_up_email  # noqa: E402
from api_client.api.tasks import (  # noqa: E402
    create_task,
    delete_task,
    get_task,
    list_tasks,
    replace_task,
    update_task,
)
from api_client.models import (  # noqa: E402
    CreateTaskRequest,
    Error,
    PatchTaskRequest,
    ReplaceTaskRequest,
    SignUpRequest,
    SignUpResponse,
    Task,
    TaskPage,
)

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


def main() -> None:
    print(f"Python client (openapi-python-client) against {BASE_URL}")
    email = f"py-{uuid.uuid4().hex[:12]}@example.com"
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)

    signed_up = sign_up_email.sync_detailed(
        client=anonymous,
        body=SignUpRequest(name="Py Client", email=email, password="correct horse battery staple"),
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
