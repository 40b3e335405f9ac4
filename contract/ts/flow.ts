// A short client flow with the TypeScript client generated from openapi.yaml
// (openapi-typescript types + openapi-fetch), against a live server:
// sign up, create a task, list, update (If-Match), delete, sign out. Bearer auth.
//
//   node contract/ts/build/flow.js <baseUrl>      (after `tsc -p contract/ts`; scripts/contract does both)
//
// The point is that the generated types are usable as they are: this file type-checks under
// `strict`, using `data` and headers as the spec declares them, without casts.

import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Task = components["schemas"]["Task"];

const baseUrl = process.argv[2] ?? process.env.BASE_URL ?? "http://127.0.0.1:8000";
let failures = 0;
const typeGuardsOnly = process.env.NEVER_SET_TYPE_GUARDS === "1";

function check(cond: boolean, what: string, detail?: unknown): void {
  if (cond) {
    console.log(`  ok   ${what}`);
  } else {
    failures++;
    console.log(`  FAIL ${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

function must<T>(value: T | undefined | null, what: string, detail?: unknown): T {
  if (value === undefined || value === null) {
    console.log(`  FAIL ${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
    throw new Error(`cannot continue: ${what}`);
  }
  return value;
}

// Node's fetch (undici) sends `Sec-Fetch-Mode: cors`, and with fetch metadata present the
// Better Auth login-CSRF rule (sign-in/sign-up) requires a trusted Origin, as it would from a
// browser. A server-side client therefore declares the API's own origin, which the server
// trusts by default (BASE_URL, or http://127.0.0.1:<port> and http://localhost:<port>).
const client = createClient<paths>({ baseUrl, headers: { Origin: new URL(baseUrl).origin } });

// Bearer auth: once signed in, every request carries the token from `set-auth-token`.
let token: string | undefined;
const bearer: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};
client.use(bearer);

async function main(): Promise<void> {
  console.log(`TypeScript client (openapi-fetch) against ${baseUrl}`);
  const email = `ts-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;

  const signUp = await client.POST("/api/auth/sign-up/email", {
    body: { name: "TS Client", email, password: "correct horse battery staple" },
  });
  check(signUp.response.status === 200, "sign-up answers 200", signUp.error);
  const user = must(signUp.data, "sign-up returns a body", signUp.error).user;
  check(user.email === email, "sign-up returns the user");
  token = must(signUp.response.headers.get("set-auth-token"), "sign-up sends set-auth-token");
  if (typeGuardsOnly) {
    // Compile-time guard: the generated response types must be real types, not `never` or
    // `any` (on which any property access type-checks). Each line must be a type error.
    // @ts-expect-error SignUpResponse.user has no such property
    void signUp.data?.user.no_such_property;
    // @ts-expect-error Error.code is a string
    void (signUp.error?.code satisfies number | undefined);
  }

  const session = await client.GET("/api/auth/get-session");
  check(session.response.status === 200 && session.data?.user.id === user.id, "get-session sees the bearer session", session.data);

  const created = await client.POST("/api/v1/tasks", { body: { title: "Buy milk", description: "2 litres" } });
  check(created.response.status === 201, "create answers 201", created.error);
  const task: Task = must(created.data, "create returns the task", created.error);
  check(task.title === "Buy milk" && task.owner_id === user.id && task.is_completed === false, "created task has the fields sent");
  check(created.response.headers.get("location") === `/api/v1/tasks/${task.id}`, "create sends Location");
  const etag = must(created.response.headers.get("etag"), "create sends ETag");

  const list = await client.GET("/api/v1/tasks", { params: { query: { limit: 10, completed: false } } });
  check(list.response.status === 200, "list answers 200", list.error);
  const page = must(list.data, "list returns a page", list.error);
  check(page.items.length === 1 && page.items[0].id === task.id, "list contains the task", page);
  check(page.next_cursor === null || page.next_cursor === undefined, "single page has no next_cursor");

  const patched = await client.PATCH("/api/v1/tasks/{id}", {
    params: { path: { id: task.id }, header: { "If-Match": etag } },
    body: { is_completed: true },
  });
  check(patched.response.status === 200 && patched.data?.is_completed === true, "patch with If-Match updates", patched.error ?? patched.data);

  const stale = await client.PUT("/api/v1/tasks/{id}", {
    params: { path: { id: task.id }, header: { "If-Match": etag } },
    body: { title: "Stale write", is_completed: false },
  });
  check(stale.response.status === 412 && stale.error?.code === "PRECONDITION_FAILED", "put with a stale ETag is 412", stale.error);

  const fetched = await client.GET("/api/v1/tasks/{id}", { params: { path: { id: task.id } } });
  check(fetched.response.status === 200 && fetched.data?.title === "Buy milk" && fetched.data.is_completed, "get shows the patched task", fetched.data);

  const deleted = await client.DELETE("/api/v1/tasks/{id}", { params: { path: { id: task.id } } });
  check(deleted.response.status === 204, "delete answers 204", deleted.error);

  const gone = await client.GET("/api/v1/tasks/{id}", { params: { path: { id: task.id } } });
  check(gone.response.status === 404 && gone.error?.code === "TASK_NOT_FOUND", "deleted task is 404 TASK_NOT_FOUND", gone.error);

  const signOut = await client.POST("/api/auth/sign-out", { body: {} });
  check(signOut.response.status === 200 && signOut.data?.success === true, "sign-out answers {success: true}", signOut.error);

  const after = await client.GET("/api/v1/tasks");
  check(after.response.status === 401 && after.error?.code === "UNAUTHORIZED", "the token is dead after sign-out", after.error);
}

main()
  .catch((err: unknown) => {
    failures++;
    console.log(`  FAIL ${err instanceof Error ? err.message : String(err)}`);
  })
  .finally(() => {
    console.log(failures === 0 ? "TypeScript client flow: passed" : `TypeScript client flow: ${failures} failure(s)`);
    process.exitCode = failures === 0 ? 0 : 1;
  });
