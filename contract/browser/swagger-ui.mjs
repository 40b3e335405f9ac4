// Swagger UI at /docs, driven in real headless Chromium (Debian's /usr/bin/chromium via
// playwright-core): the page loads and renders every operation of the spec; sign-up runs
// through the UI (Try it out → body → Execute); the bearer token from its `set-auth-token`
// response header goes into Authorize → bearerAuth; then "List your tasks" and "Create a task"
// run through the UI and answer 200 and 201.
//
//   node contract/browser/swagger-ui.mjs <baseUrl> [artifactDir]
//
// Screenshots land in artifactDir (default artifacts/contract). Only loopback traffic is let
// through: any other request the page makes is blocked and reported as a failure.

import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { launchHeadless } from "../../scripts/lib/chromium.mjs";

const baseUrl = (process.argv[2] ?? "http://127.0.0.1:8000").replace(/\/$/, "");
const artifactDir = resolve(process.argv[3] ?? "artifacts/contract");
const STEP_TIMEOUT = 20_000;

mkdirSync(artifactDir, { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), "contract-chromium-"));

let failures = 0;
const check = (cond, what, detail) => {
  if (cond) console.log(`  ok   ${what}`);
  else {
    failures++;
    console.log(`  FAIL ${what}${detail === undefined ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`}`);
  }
  return cond;
};
class Stop extends Error {}
const must = (cond, what, detail) => {
  if (!check(cond, what, detail)) throw new Stop(what);
};

const isLoopback = (url) => {
  try {
    const { protocol, hostname } = new URL(url);
    if (protocol === "data:" || protocol === "blob:" || protocol === "about:") return true;
    return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]" || /^127\./.test(hostname);
  } catch {
    return url.startsWith("data:") || url.startsWith("blob:") || url.startsWith("about:");
  }
};

/** The operations the spec declares, as Swagger UI ids (`operations-<tag>-<operationId>`). */
async function specOperations() {
  const spec = await (await fetch(`${baseUrl}/openapi.json`)).json();
  const ops = [];
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of ["get", "put", "post", "delete", "options", "head", "patch", "trace"]) {
      const op = item[method];
      if (op) ops.push({ path, method, tag: op.tags?.[0] ?? "default", operationId: op.operationId });
    }
  }
  return ops;
}

/** Opens an operation, presses "Try it out", optionally fills the JSON body, executes, and
 * returns { status, headers, body } as Swagger UI shows them. */
async function tryOperation(page, domId, { body } = {}) {
  const block = page.locator(`#${domId}`);
  await block.scrollIntoViewIfNeeded();
  if (!(await block.evaluate((el) => el.classList.contains("is-open")))) {
    await block.locator(".opblock-summary").first().click();
  }
  const tryOut = block.locator("button.try-out__btn");
  await tryOut.waitFor({ timeout: STEP_TIMEOUT });
  if ((await tryOut.innerText()).trim().toLowerCase().startsWith("try it out")) await tryOut.click();
  if (body !== undefined) {
    const textarea = block.locator("textarea.body-param__text");
    await textarea.waitFor({ timeout: STEP_TIMEOUT });
    await textarea.fill(JSON.stringify(body, null, 2));
  }
  await block.locator("button.execute").click();
  const statusCell = block.locator(".live-responses-table .response .response-col_status").first();
  await statusCell.waitFor({ timeout: STEP_TIMEOUT });
  const status = Number((await statusCell.innerText()).trim());
  const description = block.locator(".live-responses-table .response .response-col_description").first();
  const headerText = await description.locator(".response-headers, pre.microlight").last().innerText().catch(() => "");
  const headers = {};
  for (const line of headerText.split("\n")) {
    const m = /^\s*([A-Za-z0-9-]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (m) headers[m[1].toLowerCase()] = m[2];
  }
  const bodyText = await description.locator(".highlight-code pre, pre.microlight").first().innerText().catch(() => "");
  const curl = await block.locator(".curl-command pre, .curl-command textarea, .curl").first().innerText().catch(() => "");
  return { status, headers, body: bodyText, curl };
}

async function main() {
  console.log(`Swagger UI in headless Chromium against ${baseUrl}/docs`);
  const expected = await specOperations();

  const context = await launchHeadless(chromium, userDataDir, { viewport: { width: 1400, height: 1000 } });
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => {
    // "Failed to load resource: … status of 4xx" is Chromium logging an HTTP status, which the
    // steps check themselves; anything else logged as an error is a problem of the page.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource: the server responded with a status of")) {
      pageErrors.push(`console: ${msg.text()}`);
    }
  });

  try {
    const response = await page.goto(`${baseUrl}/docs`, { waitUntil: "load", timeout: 30_000 });
    must(response?.status() === 200, "GET /docs answers 200", response?.status());
    await page.locator(".swagger-ui .information-container .title").waitFor({ timeout: STEP_TIMEOUT });
    const title = (await page.locator(".swagger-ui .information-container .title").innerText()).trim();
    check(title.startsWith("Session auth and tasks API"), "the spec's title renders", title);
    await page.locator(".opblock").first().waitFor({ timeout: STEP_TIMEOUT });

    const rendered = await page.locator(".opblock").evaluateAll((els) => els.map((el) => el.id));
    const missing = expected.filter((op) => !rendered.includes(`operations-${op.tag}-${op.operationId}`));
    check(rendered.length === expected.length && missing.length === 0,
      `all ${expected.length} operations render`, { rendered: rendered.length, missing: missing.map((o) => `${o.method.toUpperCase()} ${o.path}`) });
    const schemeButton = await page.locator("button.authorize").count();
    check(schemeButton > 0, "the Authorize button is shown (security schemes declared)");
    const errorsBlock = await page.locator(".swagger-ui .errors-wrapper").count();
    check(errorsBlock === 0, "Swagger UI reports no spec errors",
      errorsBlock ? await page.locator(".swagger-ui .errors-wrapper").innerText() : undefined);

    // Sign up through the UI.
    const email = `ui-${Date.now()}@example.com`;
    const signUp = await tryOperation(page, "operations-Auth-sign_up_email", {
      body: { name: "Swagger UI", email, password: "correct horse battery staple" },
    });
    await page.screenshot({ path: join(artifactDir, "swagger-ui-sign-up.png"), fullPage: false });
    must(signUp.status === 200, "sign-up through Swagger UI answers 200", { status: signUp.status, body: signUp.body });
    const token = signUp.headers["set-auth-token"];
    must(Boolean(token), "Swagger UI shows the set-auth-token response header", signUp.headers);

    // Authorize → bearerAuth.
    await page.locator("button.authorize").first().click();
    const modal = page.locator(".dialog-ux .modal-ux");
    await modal.waitFor({ timeout: STEP_TIMEOUT });
    const bearerSection = modal.locator(".auth-container").filter({ hasText: "bearerAuth" });
    must((await bearerSection.count()) === 1, "the Authorize dialog offers bearerAuth");
    await bearerSection.locator("input").first().fill(token);
    await bearerSection.locator("button.authorize, button:has-text('Authorize')").first().click();
    await bearerSection.locator("button:has-text('Logout')").waitFor({ timeout: STEP_TIMEOUT });
    await modal.locator("button.close-modal, button:has-text('Close')").first().click();

    // List tasks through the UI, with the bearer token.
    const list = await tryOperation(page, "operations-Tasks-list_tasks");
    check(list.status === 200, "list tasks through Swagger UI answers 200", { status: list.status, body: list.body });
    check(/Authorization: Bearer /i.test(list.curl), "the request carried the bearer token", list.curl);

    // Create a task through the UI (a write from the docs page: cookie and bearer both present).
    const create = await tryOperation(page, "operations-Tasks-create_task", { body: { title: "Made in Swagger UI" } });
    check(create.status === 201, "create task through Swagger UI answers 201", { status: create.status, body: create.body });

    const listAgain = await tryOperation(page, "operations-Tasks-list_tasks");
    check(listAgain.status === 200 && listAgain.body.includes("Made in Swagger UI"), "the list shows the new task", listAgain.body);
    await page.locator("#operations-Tasks-list_tasks").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifactDir, "swagger-ui-tasks.png"), fullPage: false });
  } catch (err) {
    if (!(err instanceof Stop)) {
      failures++;
      console.log(`  FAIL ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    }
  } finally {
    await page.screenshot({ path: join(artifactDir, "swagger-ui.png"), fullPage: true }).catch(() => {});
    check(blocked.length === 0, "the page requested nothing outside loopback", blocked);
    check(pageErrors.length === 0, "no JavaScript errors on the page", pageErrors);
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  console.log(`  screenshots: ${artifactDir}/swagger-ui*.png`);
  console.log(failures === 0 ? "Swagger UI browser test: passed" : `Swagger UI browser test: ${failures} failure(s)`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main();
