// A short client flow with the TypeScript client generated from openapi.yaml
// (openapi-typescript types + openapi-fetch), against a live server:
// sign up, create a task, list, update (If-Match), delete; a create retried with one
// Idempotency-Key; an incremental sync with the change feed (first sync, a change and a delete,
// the next sync from next_cursor); a JWT for other backends verified against the key set
// (`/api/auth/token`, `/api/auth/jwks`, `/.well-known/jwks.json`); the live-update stream (text/event-stream, read through the
// generated client with `parseAs: "stream"`) and its resumption with Last-Event-ID; sign out.
// Before the tasks, two-factor sign-in: enable with the password, confirm with a TOTP code
// computed here, sign out, sign in and get the second step, complete it with a backup code as
// a client without cookies (the `set-two-factor-token` value sent back as `two-factor-token`),
// turn it off. Bearer auth.
//
//   node contract/ts/build/flow.js <baseUrl>      (after `tsc -p contract/ts`; scripts/contract does both)
//
// The point is that the generated types are usable as they are: this file type-checks under
// `strict`, using `data` and headers as the spec declares them, without casts.

import { createHmac, createPublicKey, verify } from "node:crypto";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Task = components["schemas"]["Task"];
type TaskChange = components["schemas"]["TaskChange"];
type TaskEvent = components["schemas"]["TaskEvent"];

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

/** One Server-Sent Event (comment lines, the heartbeats, are skipped). */
interface SseEvent {
  id: string;
  event: string;
  data: string;
}

/** Reads Server-Sent Events from a response body, one at a time, each with a time limit. The
 * generated types describe the stream's events (`TaskEvent`); the framing is parsed here, as
 * `EventSource` would (openapi-fetch hands the body over as a stream). */
class SseReader {
  private buffer = "";
  private readonly decoder = new TextDecoder();
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** The next event, or undefined when none arrives within `ms` (or the stream ended). */
  async next(ms: number): Promise<SseEvent | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const event = this.take();
      if (event) return event;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      // A read still pending from a timed-out call is kept: its chunk must not be lost.
      this.pending ??= this.reader.read();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left)));
      const chunk = await Promise.race([this.pending, timeout]);
      clearTimeout(timer);
      if (chunk === "timeout") return undefined;
      this.pending = undefined;
      if (chunk.done) return undefined;
      this.buffer += this.decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
    }
  }

  private take(): SseEvent | undefined {
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end < 0) return undefined;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event: SseEvent = { id: "", event: "message", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "id") event.id = value;
        else if (field === "event") event.event = value;
      }
      if (data.length === 0) continue;
      event.data = data.join("\n");
      return event;
    }
  }
}

/** Opens the live-update stream through the generated client (optionally resuming after
 * `lastEventId`); the answer's body is read as a stream. */
async function openEvents(lastEventId?: string): Promise<{ events: SseReader; close: () => void }> {
  const abort = new AbortController();
  const opened = await client.GET("/api/v1/tasks/events", {
    params: { header: lastEventId === undefined ? {} : { "Last-Event-ID": lastEventId } },
    parseAs: "stream",
    signal: abort.signal,
  });
  check(opened.response.status === 200, `the event stream opens${lastEventId ? " with Last-Event-ID" : ""} (200)`, opened.error);
  check((opened.response.headers.get("content-type") ?? "").startsWith("text/event-stream"), "the stream is text/event-stream");
  const body = must(opened.data, "the event stream has a body");
  return { events: new SseReader(body.getReader()), close: () => abort.abort() };
}

/** The next `change` event's data, as the spec declares it. */
async function nextChange(events: SseReader, what: string): Promise<{ id: string; data: TaskEvent }> {
  const event = must(await events.next(5000), `${what}: an event arrives within 5 s`);
  check(event.event === "change" && event.id !== "", `${what}: a 'change' event with an id`, event);
  const data = JSON.parse(event.data) as TaskEvent;
  check(data.cursor === event.id, `${what}: the event's cursor is its id`, event);
  return { id: event.id, data };
}

/** Syncs from `since` until `has_more` is false: every change, oldest first, and the cursor to keep. */
async function syncFrom(since: string | undefined): Promise<{ changes: TaskChange[]; cursor: string }> {
  const changes: TaskChange[] = [];
  let cursor = since;
  for (;;) {
    const page = await client.GET("/api/v1/tasks/changes", {
      params: { query: cursor === undefined ? { limit: 2 } : { since: cursor, limit: 2 } },
    });
    const body = must(page.data, "the change feed answers a page", page.error);
    changes.push(...body.changes);
    cursor = body.next_cursor;
    if (!body.has_more) return { changes, cursor };
  }
}

/** RFC 4648 base32 (the `secret` of a `totpURI`) to bytes. */
function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text.replace(/=+$/, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${text}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The current RFC 6238 code (HMAC-SHA-1, 30 s, 6 digits), as an authenticator app shows it. */
function totpNow(key: Buffer): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const digest = createHmac("sha1", key).update(counter).digest();
  const offset = digest[19] & 0x0f;
  const value = ((digest[offset] & 0x7f) << 24) | (digest[offset + 1] << 16) | (digest[offset + 2] << 8) | digest[offset + 3];
  return (value % 1_000_000).toString().padStart(6, "0");
}

/** Two-factor sign-in for the signed-in user, ending with it off and a new bearer session. */
async function twoFactorFlow(email: string, password: string, userId: string): Promise<void> {
  const enabled = await client.POST("/api/auth/two-factor/enable", { body: { password } });
  check(enabled.response.status === 200, "two-factor enable answers 200", enabled.error);
  const enrolment = must(enabled.data, "enable returns the enrolment", enabled.error);
  const totpURI = must(enrolment.totpURI, "enable returns a totpURI", enrolment);
  const backupCodes = must(enrolment.backupCodes, "enable returns backup codes", enrolment);
  check(backupCodes.length === 10, "ten backup codes", backupCodes.length);
  const key = base32Decode(must(new URL(totpURI).searchParams.get("secret"), "the totpURI has a secret", totpURI));

  const confirmed = await client.POST("/api/auth/two-factor/verify-totp", { body: { code: totpNow(key) } });
  check(confirmed.response.status === 200 && confirmed.data?.user.twoFactorEnabled === true, "a first TOTP code turns two-factor on", confirmed.error ?? confirmed.data);
  token = must(confirmed.response.headers.get("set-auth-token"), "confirming replaces the session (set-auth-token)");

  const signedOut = await client.POST("/api/auth/sign-out", { body: {} });
  check(signedOut.response.status === 200, "sign-out answers 200", signedOut.error);
  token = undefined;

  const signIn = await client.POST("/api/auth/sign-in/email", { body: { email, password } });
  const answer = must(signIn.data, "sign-in answers", signIn.error);
  check("twoFactorRedirect" in answer && answer.twoFactorRedirect === true, "sign-in asks for the second factor", answer);
  check(signIn.response.headers.get("set-auth-token") === null, "no session before the second factor");
  const pending = must(signIn.response.headers.get("set-two-factor-token"), "sign-in sends set-two-factor-token");

  const verified = await client.POST("/api/auth/two-factor/verify-backup-code", {
    params: { header: { "two-factor-token": pending } },
    body: { code: backupCodes[0] },
  });
  check(verified.response.status === 200 && verified.data?.user.id === userId, "a backup code completes the sign-in", verified.error ?? verified.data);
  token = must(verified.response.headers.get("set-auth-token"), "the second step sends set-auth-token");
  const session = await client.GET("/api/auth/get-session");
  check(session.data?.user.id === userId && session.data.user.twoFactorEnabled === true, "the new session works and says two-factor is on", session.data);

  const disabled = await client.POST("/api/auth/two-factor/disable", { body: { password } });
  check(disabled.response.status === 200 && disabled.data?.status === true, "two-factor disable answers {status: true}", disabled.error);
  token = must(disabled.response.headers.get("set-auth-token"), "disabling replaces the session (set-auth-token)");
  const after = await client.GET("/api/auth/get-session");
  check(after.data?.user.twoFactorEnabled === false, "get-session says two-factor is off", after.data);
}

async function main(): Promise<void> {
  console.log(`TypeScript client (openapi-fetch) against ${baseUrl}`);
  const email = `ts-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;

  const password = "correct horse battery staple";
  const signUp = await client.POST("/api/auth/sign-up/email", {
    body: { name: "TS Client", email, password },
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

  // The `jwt` plugin: a JWT for other backends, and the key set that verifies it.
  check(!!session.response.headers.get("set-auth-jwt"), "get-session sends set-auth-jwt");
  const issued = await client.GET("/api/auth/token");
  check(issued.response.status === 200, "token answers 200", issued.error);
  const jwt = must(issued.data, "token returns a body", issued.error).token;
  const [head, claims, signature] = jwt.split(".");
  const header = JSON.parse(Buffer.from(head, "base64url").toString()) as { alg: string; kid: string };
  const payload = JSON.parse(Buffer.from(claims, "base64url").toString()) as { sub: string };
  check(payload.sub === user.id, "the JWT's sub is the user", payload);
  const keySet = await client.GET("/api/auth/jwks");
  check(keySet.response.status === 200 && !!keySet.response.headers.get("etag"), "jwks answers 200 with an ETag", keySet.error);
  const jwk = must(keySet.data?.keys.find((key) => key.kid === header.kid), "the key set lists the JWT's key", keySet.data);
  const publicKey = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv ?? undefined, x: jwk.x ?? undefined }, format: "jwk" });
  const verified = verify(null, Buffer.from(`${head}.${claims}`), publicKey, Buffer.from(signature, "base64url"));
  check(header.alg === "EdDSA" && verified, "the JWT verifies against the key set (Ed25519)", header);
  const wellKnown = await client.GET("/.well-known/jwks.json");
  check(JSON.stringify(wellKnown.data) === JSON.stringify(keySet.data), "/.well-known/jwks.json serves the same key set", wellKnown.data);
  await twoFactorFlow(email, password, user.id);

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

  // A create retried with one Idempotency-Key: one task, and the retry gets the first answer.
  const key = `ts-create-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const once = { params: { header: { "Idempotency-Key": key } }, body: { title: "Pay rent" } };
  const first = await client.POST("/api/v1/tasks", once);
  check(first.response.status === 201, "create with an Idempotency-Key answers 201", first.error);
  const rent: Task = must(first.data, "the idempotent create returns the task", first.error);
  const retry = await client.POST("/api/v1/tasks", once);
  check(retry.response.status === 201 && retry.data?.id === rent.id, "the retry answers 201 with the same task", retry.data ?? retry.error);
  check(retry.response.headers.get("location") === first.response.headers.get("location"), "the retry has the same Location");
  check(retry.response.headers.get("etag") === first.response.headers.get("etag"), "the retry has the same ETag");
  const reused = await client.POST("/api/v1/tasks", { params: { header: { "Idempotency-Key": key } }, body: { title: "Something else" } });
  check(reused.response.status === 422 && reused.error?.code === "IDEMPOTENCY_KEY_REUSED", "the key for another request is 422 IDEMPOTENCY_KEY_REUSED", reused.error);

  // Incremental sync: a first sync (in pages of 2), then a change and a delete, then the next
  // sync from the kept cursor sees exactly those two.
  const extra = must((await client.POST("/api/v1/tasks", { body: { title: "Call mum" } })).data, "create a second task");
  const firstSync = await syncFrom(undefined);
  const live = firstSync.changes.filter((c) => !c.deleted).map((c) => c.task?.id);
  check(live.includes(rent.id) && live.includes(extra.id), "the first sync has both tasks", firstSync.changes);
  check(firstSync.changes.filter((c) => c.id === rent.id).length === 1, "the retried create is one task in the feed", firstSync.changes);
  const rentEtag = must(first.response.headers.get("etag"), "the idempotent create sends an ETag");
  const done = await client.PATCH("/api/v1/tasks/{id}", {
    params: { path: { id: rent.id }, header: { "If-Match": rentEtag } },
    body: { is_completed: true },
  });
  check(done.response.status === 200, "patch the first task", done.error);
  const dropped = await client.DELETE("/api/v1/tasks/{id}", { params: { path: { id: extra.id } } });
  check(dropped.response.status === 204, "delete the second task", dropped.error);
  const nextSync = await syncFrom(firstSync.cursor);
  check(
    nextSync.changes.length === 2 &&
      nextSync.changes[0].id === rent.id && !nextSync.changes[0].deleted && nextSync.changes[0].task?.is_completed === true &&
      nextSync.changes[1].id === extra.id && nextSync.changes[1].deleted && nextSync.changes[1].task === null,
    "the next sync sees the change and the deletion, oldest first",
    nextSync.changes,
  );
  const quiet = await syncFrom(nextSync.cursor);
  check(quiet.changes.length === 0, "a sync with nothing new is empty", quiet.changes);

  // Live updates: a change made through another request arrives on the stream; after a
  // disconnection, Last-Event-ID resumes with what was missed.
  const stream = await openEvents();
  const milk = must((await client.POST("/api/v1/tasks", { body: { title: "Oat milk" } })).data, "create a task while streaming");
  const seen = await nextChange(stream.events, "live");
  check(seen.data.id === milk.id && !seen.data.deleted && seen.data.task?.title === "Oat milk", "the stream carries the new task", seen.data);
  stream.close();
  const missed = await client.PATCH("/api/v1/tasks/{id}", { params: { path: { id: milk.id } }, body: { is_completed: true } });
  check(missed.response.status === 200, "patch the task while disconnected", missed.error);
  const resumed = await openEvents(seen.id);
  const caught = await nextChange(resumed.events, "resumed");
  check(caught.data.id === milk.id && caught.data.task?.is_completed === true, "Last-Event-ID resumes with the missed change", caught.data);
  resumed.close();
  const fromEvent = await syncFrom(seen.id);
  check(fromEvent.changes.length === 1 && fromEvent.changes[0].id === milk.id, "an event id is a sync cursor too", fromEvent.changes);

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
