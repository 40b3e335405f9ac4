// The user journey through the example app, in real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, as contract/browser/swagger-ui.mjs does):
//
//   /tasks signed out → redirected to /sign-in → sign up → redirected to /tasks → create six
//   tasks (two pages) → page through them → edit one (If-Match) → complete one → delete one →
//   a change made elsewhere is refused (412) and shown → reload: the server-side session check
//   still lets the page through → sessions page: a second session is listed and revoked → sign
//   out → /tasks redirects to /sign-in, the API answers 401 (also to the old cookie) → sign in
//   again through the form.
//
// Every step's page is kept as a screenshot (NN-step.png); a failed step leaves FAILED-step.png.
// Exported for e2e/run.mjs, which starts the service and the app for each deployment.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { launchHeadless } from "../../../scripts/lib/chromium.mjs";

const STEP_TIMEOUT = 20_000;
const PASSWORD = "correct horse battery staple";

class StepFailed extends Error {}

/**
 * @param {object} d
 * @param {string} d.name            deployment name (for messages)
 * @param {string} d.appUrl          the app's origin as the browser reaches it
 * @param {string} d.apiUrl          the service's origin as the browser reaches it
 * @param {string} d.apiInternalUrl  the service as this process reaches it
 * @param {string} d.cookiePrefix    expected cookie name prefix (COOKIE_PREFIX)
 * @param {string | null} d.cookieDomain  expected Domain attribute (COOKIE_DOMAIN), or null for host-only
 * @param {string[]} d.allowedHosts  hosts the page may talk to (everything else is blocked)
 * @param {string[]} d.chromiumArgs  extra Chromium flags (host resolver rules)
 * @param {string} d.artifactDir     where screenshots go
 * @returns {Promise<{passed: number, failed: number}>}
 */
export async function runJourney(d) {
  const userDataDir = mkdtempSync(join(tmpdir(), "webapp-chromium-"));
  const sessionCookie = `${d.cookiePrefix}.session_token`;
  const apiHost = new URL(d.apiUrl).hostname;
  let passed = 0;
  let failed = 0;
  let shot = 0;
  const check = (cond, what, detail) => {
    if (cond) {
      passed++;
      console.log(`  ok   ${what}`);
    } else {
      failed++;
      const text = detail === undefined ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`;
      console.log(`  FAIL ${what}${text}`);
    }
    return cond;
  };
  const must = (cond, what, detail) => {
    if (!check(cond, what, detail)) throw new StepFailed(what);
  };

  const context = await launchHeadless(chromium, userDataDir, { args: d.chromiumArgs, viewport: { width: 1000, height: 900 } });
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    let host = "";
    try {
      host = new URL(url).hostname;
    } catch {}
    if (/^(data|blob|about):/.test(url) || d.allowedHosts.includes(host)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT);
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => {
    // Chromium logs every 4xx answer a script receives ("Failed to load resource: …"): the steps
    // provoke some on purpose (401 after sign-out, 412) and check them themselves.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource: the server responded with a status of")) {
      pageErrors.push(`console: ${msg.text()}`);
    }
  });
  /** Requests the page sent to the tasks API, with the headers that matter here. */
  const taskWrites = [];
  let browserSessionReads = 0;
  page.on("request", (req) => {
    if (req.url().startsWith(`${d.apiUrl}/api/auth/get-session`)) browserSessionReads++;
    if (req.url().startsWith(`${d.apiUrl}/api/v1/tasks/`) && ["PATCH", "DELETE"].includes(req.method())) {
      taskWrites.push({ method: req.method(), ifMatch: req.headers()["if-match"] ?? null });
    }
  });

  const screenshot = async (name) => {
    shot++;
    await page.screenshot({ path: join(d.artifactDir, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
  };
  const pathOf = () => {
    const url = new URL(page.url());
    return url.pathname + url.search;
  };
  /** fetch() run inside the page, from the app's origin, with the browser's cookies. */
  const pageFetch = (path, init = {}) =>
    page.evaluate(
      async ({ url, init }) => {
        const r = await fetch(url, { credentials: "include", ...init });
        return { status: r.status, etag: r.headers.get("etag"), body: await r.text() };
      },
      { url: `${d.apiUrl}${path}`, init },
    );
  const cookieNamed = async (name) => (await context.cookies(d.apiUrl)).find((c) => c.name === name);
  const taskItem = (title) => page.locator("ul.tasks li").filter({ has: page.locator(".title", { hasText: new RegExp(`^${title}( —|$)`) }) });

  const email = `journey-${d.name}-${Date.now()}@example.com`;
  const name = "Journey User";
  let oldCookie = null;

  const steps = [
    [
      "signed-out-tasks-redirects",
      async () => {
        const response = await page.goto(`${d.appUrl}/tasks`);
        must(response?.ok(), "GET /tasks signed out ends on a page", response?.status());
        const redirected = response.request().redirectedFrom();
        must(Boolean(redirected) && new URL(redirected.url()).pathname === "/tasks", "the server redirected /tasks (no session)", redirected?.url());
        must(pathOf() === "/sign-in?next=%2Ftasks", "…to /sign-in?next=%2Ftasks", pathOf());
        await page.getByRole("heading", { name: "Sign in" }).waitFor();
        await screenshot("sign-in");
      },
    ],
    [
      "sign-up",
      async () => {
        await page.getByRole("link", { name: "Sign up" }).click();
        await page.waitForURL(`${d.appUrl}/sign-up`);
        await page.getByLabel("Name").fill(name);
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill(PASSWORD);
        await screenshot("sign-up");
        await page.getByRole("button", { name: "Sign up" }).click();
        await page.waitForURL(`${d.appUrl}/tasks`);
        await page.getByRole("heading", { name: `${name}’s tasks` }).waitFor();
        must((await page.getByTestId("who").innerText()) === email, "signed up and redirected to /tasks, which shows the user");
        await page.getByText("No tasks on this page.").waitFor();
        await screenshot("tasks-empty");
      },
    ],
    [
      "session-cookie",
      async () => {
        const cookie = await cookieNamed(sessionCookie);
        must(Boolean(cookie), `the browser stored ${sessionCookie} from the service`, (await context.cookies()).map((c) => c.name));
        check(cookie.httpOnly, "it is HttpOnly");
        check(cookie.sameSite === "Lax", "it is SameSite=Lax", cookie.sameSite);
        const expectedDomain = d.cookieDomain ? `.${d.cookieDomain}` : apiHost;
        check(cookie.domain === expectedDomain, `its domain is ${expectedDomain}`, cookie.domain);
        const visible = await page.evaluate(() => document.cookie);
        check(!visible.includes("session_token"), "page scripts cannot read it", visible);
      },
    ],
    [
      "create-and-paginate",
      async () => {
        for (let i = 1; i <= 6; i++) {
          await page.getByLabel("New task").fill(`Task ${i}`);
          if (i === 1) await page.getByLabel("Description (optional)").fill("the oldest one");
          await page.getByRole("button", { name: "Add task" }).click();
          await taskItem(`Task ${i}`).waitFor();
        }
        const titles = await page.locator("ul.tasks li .title").allInnerTexts();
        check(
          JSON.stringify(titles) === JSON.stringify(["Task 6", "Task 5", "Task 4", "Task 3", "Task 2"]),
          "page 1 lists the five newest tasks, newest first",
          titles,
        );
        await screenshot("tasks-page-1");
        await page.getByRole("button", { name: "Older" }).click();
        await page.getByTestId("page").filter({ hasText: "Page 2" }).waitFor();
        await taskItem("Task 1").waitFor();
        const second = await page.locator("ul.tasks li .title").allInnerTexts();
        check(JSON.stringify(second) === JSON.stringify(["Task 1 — the oldest one"]), "page 2 (cursor) lists the sixth", second);
        check(await page.getByRole("button", { name: "Older" }).isDisabled(), "there is no page 3");
        await screenshot("tasks-page-2");
        await page.getByRole("button", { name: "Newer" }).click();
        await page.getByTestId("page").filter({ hasText: "Page 1" }).waitFor();
        await taskItem("Task 6").waitFor();
      },
    ],
    [
      "edit",
      async () => {
        await taskItem("Task 6").getByRole("button", { name: "Edit" }).click();
        await page.getByLabel("Title", { exact: true }).fill("Task 6 (edited)");
        await page.getByRole("button", { name: "Save" }).click();
        await taskItem("Task 6 \\(edited\\)").waitFor();
        const patch = taskWrites.findLast((w) => w.method === "PATCH");
        check(Boolean(patch?.ifMatch), "the edit was sent with If-Match", patch);
        const id = await taskId("Task 6 \\(edited\\)");
        const stored = JSON.parse((await pageFetch(`/api/v1/tasks/${id}`)).body);
        check(stored.title === "Task 6 (edited)", "the service stored the new title", stored.title);
        await screenshot("tasks-edited");
      },
    ],
    [
      "complete",
      async () => {
        await taskItem("Task 5").getByRole("checkbox").click();
        await page.locator("ul.tasks li.done").filter({ hasText: "Task 5" }).waitFor();
        const id = await taskId("Task 5");
        const stored = JSON.parse((await pageFetch(`/api/v1/tasks/${id}`)).body);
        check(stored.is_completed === true, "the service stored it as done", stored);
        await screenshot("tasks-completed");
      },
    ],
    [
      "delete",
      async () => {
        const id = await taskId("Task 4");
        await taskItem("Task 4").getByRole("button", { name: "Delete: Task 4" }).click();
        await taskItem("Task 4").waitFor({ state: "detached" });
        const del = taskWrites.findLast((w) => w.method === "DELETE");
        check(Boolean(del?.ifMatch), "the delete was sent with If-Match", del);
        check((await pageFetch(`/api/v1/tasks/${id}`)).status === 404, "the service no longer has it (404)");
        await taskItem("Task 1").waitFor();
        await screenshot("tasks-deleted");
      },
    ],
    [
      "conflict-412",
      async () => {
        // Someone else (another tab, here a direct API call) renames Task 3 after the page showed it.
        const id = await taskId("Task 3");
        const current = await pageFetch(`/api/v1/tasks/${id}`);
        const renamed = await pageFetch(`/api/v1/tasks/${id}`, {
          method: "PATCH",
          headers: { "content-type": "application/json", "if-match": current.etag },
          body: JSON.stringify({ title: "Task 3 (renamed elsewhere)" }),
        });
        must(renamed.status === 200, "the change made elsewhere was accepted", renamed);
        const before = taskWrites.length;
        await taskItem("Task 3").getByRole("checkbox").click();
        await page.getByRole("status").filter({ hasText: "changed elsewhere" }).waitFor();
        check(taskWrites.slice(before).some((w) => w.method === "PATCH" && w.ifMatch), "the page sent its stale version in If-Match");
        await taskItem("Task 3 \\(renamed elsewhere\\)").waitFor();
        const stored = JSON.parse((await pageFetch(`/api/v1/tasks/${id}`)).body);
        check(stored.is_completed === false && stored.title === "Task 3 (renamed elsewhere)", "412: nothing was overwritten", stored);
        await screenshot("tasks-conflict");
      },
    ],
    [
      "reload-keeps-session",
      async () => {
        const response = await page.reload();
        must(response?.status() === 200 && !response.request().redirectedFrom(), "reloading /tasks answers 200 without a redirect", response?.status());
        const html = await response.text();
        check(html.includes(email), "the server-rendered page shows the user (the server-side session check saw the cookie)");
        check(browserSessionReads > 0, "the page also reads the session from the browser (useSession: the sliding refresh reaches the cookie)");
        await taskItem("Task 6 \\(edited\\)").waitFor();
        await screenshot("tasks-reloaded");
      },
    ],
    [
      "sessions",
      async () => {
        // A second session of the same user, signed in elsewhere (another browser of the app;
        // Node's fetch sends Sec-Fetch-Mode, so the service wants a trusted Origin as it would
        // from a browser).
        const signIn = await fetch(`${d.apiInternalUrl}/api/auth/sign-in/email`, {
          method: "POST",
          headers: { "content-type": "application/json", origin: d.appUrl },
          body: JSON.stringify({ email, password: PASSWORD }),
        });
        const bearer = signIn.headers.get("set-auth-token");
        must(signIn.status === 200 && Boolean(bearer), "a second sign-in elsewhere", signIn.status);
        const asOther = () => fetch(`${d.apiInternalUrl}/api/v1/tasks`, { headers: { authorization: `Bearer ${bearer}` } });
        check((await asOther()).status === 200, "the second session works");
        await page.getByRole("link", { name: "Sessions" }).click();
        await page.waitForURL(`${d.appUrl}/sessions`);
        await page.getByTestId("session-other").waitFor();
        check((await page.locator("ul.sessions li").count()) === 2, "the sessions page lists both sessions");
        check((await page.getByTestId("session-current").count()) === 1, "…and marks this browser's");
        await screenshot("sessions");
        await page.getByTestId("session-other").getByRole("button", { name: "Revoke" }).click();
        await page.getByTestId("session-other").waitFor({ state: "detached" });
        check((await page.locator("ul.sessions li").count()) === 1, "after revoking, one session is left");
        check((await asOther()).status === 401, "the revoked session is refused (401)");
        await screenshot("sessions-revoked");
        await page.getByRole("link", { name: "Tasks" }).click();
        await page.waitForURL(`${d.appUrl}/tasks`);
      },
    ],
    [
      "sign-out",
      async () => {
        oldCookie = await cookieNamed(sessionCookie);
        must(Boolean(oldCookie), "signed in before signing out");
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.waitForURL(`${d.appUrl}/sign-in`);
        await page.getByRole("heading", { name: "Sign in" }).waitFor();
        check(!(await cookieNamed(sessionCookie)), "sign-out cleared the cookie in the browser");
        await screenshot("signed-out");
      },
    ],
    [
      "signed-out-is-refused",
      async () => {
        const response = await page.goto(`${d.appUrl}/tasks`);
        const redirected = response?.request().redirectedFrom();
        check(Boolean(redirected) && new URL(redirected.url()).pathname === "/tasks", "the server redirects /tasks again");
        check(pathOf() === "/sign-in?next=%2Ftasks", "…to /sign-in", pathOf());
        const api = await pageFetch("/api/v1/tasks");
        check(api.status === 401, "the tasks API answers 401 to the browser", api.status);
        const replay = await fetch(`${d.apiInternalUrl}/api/v1/tasks`, { headers: { cookie: `${oldCookie.name}=${oldCookie.value}` } });
        check(replay.status === 401, "the old session cookie, replayed, is refused (401): the session ended on the server", replay.status);
        await screenshot("signed-out-redirected");
      },
    ],
    [
      "sign-in-again",
      async () => {
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill(PASSWORD);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.waitForURL(`${d.appUrl}/tasks`);
        await taskItem("Task 6 \\(edited\\)").waitFor();
        check((await page.locator("ul.tasks li").count()) === 5, "signed in again: the five remaining tasks are back");
        await screenshot("signed-in-again");
      },
    ],
  ];

  async function taskId(title) {
    const testId = await taskItem(title).getAttribute("data-testid");
    return Number(testId.replace("task-", ""));
  }

  console.log(`journey (${d.name}): app ${d.appUrl}, service ${d.apiUrl}`);
  try {
    for (const [step, run] of steps) {
      console.log(`- ${step}`);
      try {
        await run();
      } catch (err) {
        if (!(err instanceof StepFailed)) check(false, `${step}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
        await page.screenshot({ path: join(d.artifactDir, `FAILED-${step}.png`), fullPage: true }).catch(() => {});
        console.log(`  (screenshot: ${join(d.artifactDir, `FAILED-${step}.png`)}; later steps skipped)`);
        break;
      }
    }
  } finally {
    check(blocked.length === 0, "the page requested nothing outside the deployment's hosts", blocked);
    check(pageErrors.length === 0, "no JavaScript errors on any page", pageErrors);
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  return { passed, failed };
}
