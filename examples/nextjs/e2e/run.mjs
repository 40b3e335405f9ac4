// Runs the browser journey (e2e/journey.mjs) once per deployment shape. For each one it starts
// the service (the given binary, a fresh SQLite database) and the built app (`next start`) on
// free loopback ports, with the settings that deployment needs, runs the journey in headless
// Chromium, and stops both. Called by scripts/webapp after the installs and `next build`.
//
//   node e2e/run.mjs <api-binary> <artifact-dir> [deployment,...]
//
// Deployments:
//   same-site-ports     app http://127.0.0.1:<a>, service http://127.0.0.1:<b>: cross-origin,
//                       same-site; host-only cookies (a host's cookies are shared by its ports)
//   sibling-subdomains  app http://app.example.test:<a>, service http://api.example.test:<b>
//                       (both names mapped to 127.0.0.1 by Chromium's --host-resolver-rules),
//                       COOKIE_DOMAIN=example.test and a custom COOKIE_PREFIX
//
// Logs of both servers and the screenshots go to <artifact-dir>/<deployment>/. Exit status 0
// only when every check of every deployment passed.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runJourney } from "./journey.mjs";

const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const START_TIMEOUT_MS = 60_000;

const DEPLOYMENTS = {
  "same-site-ports": ({ appPort, apiPort }) => {
    const appUrl = `http://127.0.0.1:${appPort}`;
    return {
      appUrl,
      apiUrl: `http://127.0.0.1:${apiPort}`,
      apiEnv: { TRUSTED_ORIGINS: appUrl },
      cookiePrefix: "better-auth",
      cookieDomain: null,
      allowedHosts: ["127.0.0.1"],
      chromiumArgs: [],
    };
  },
  "sibling-subdomains": ({ appPort, apiPort }) => {
    const appUrl = `http://app.example.test:${appPort}`;
    const apiUrl = `http://api.example.test:${apiPort}`;
    return {
      appUrl,
      apiUrl,
      apiEnv: { BASE_URL: apiUrl, TRUSTED_ORIGINS: appUrl, COOKIE_DOMAIN: "example.test", COOKIE_PREFIX: "tasks-app" },
      cookiePrefix: "tasks-app",
      cookieDomain: "example.test",
      allowedHosts: ["app.example.test", "api.example.test"],
      chromiumArgs: ["--host-resolver-rules=MAP app.example.test 127.0.0.1, MAP api.example.test 127.0.0.1"],
    };
  },
};

const [binaryArg, artifactArg, only] = process.argv.slice(2);
if (!binaryArg || !artifactArg) {
  console.error("usage: node e2e/run.mjs <api-binary> <artifact-dir> [deployment,...]");
  process.exit(2);
}
const binary = resolve(binaryArg);
const artifactRoot = resolve(artifactArg);
const selected = only ? only.split(",") : Object.keys(DEPLOYMENTS);
for (const name of selected) {
  if (!DEPLOYMENTS[name]) {
    console.error(`unknown deployment ${name}; known: ${Object.keys(DEPLOYMENTS).join(", ")}`);
    process.exit(2);
  }
}

const children = new Set();

function freePort() {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => res(port));
    });
  });
}

function start(label, command, args, { env, cwd, logPath }) {
  const log = createWriteStream(logPath);
  const child = spawn(command, args, { env: { ...process.env, ...env }, cwd, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  const proc = { label, child, exited, logPath, done: false };
  exited.then(() => {
    proc.done = true;
    children.delete(proc);
  });
  children.add(proc);
  return proc;
}

async function stop(proc) {
  if (proc.done) return;
  proc.child.kill("SIGTERM");
  const timeout = new Promise((res) => setTimeout(() => res("timeout"), 10_000));
  if ((await Promise.race([proc.exited, timeout])) === "timeout") {
    proc.child.kill("SIGKILL");
    await proc.exited;
  }
}

/** Polls `url` until it answers (any status below 500), the process dies, or time runs out. */
async function waitFor(proc, url) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.done) throw new Error(`${proc.label} exited before it answered (log: ${proc.logPath})`);
    try {
      const response = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(5_000) });
      if (response.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${proc.label} did not answer ${url} within ${START_TIMEOUT_MS / 1000} s (log: ${proc.logPath})`);
}

async function deployment(name) {
  const dir = join(artifactRoot, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), `webapp-${name}-`));
  const [appPort, apiPort] = [await freePort(), await freePort()];
  const d = DEPLOYMENTS[name]({ appPort, apiPort });
  const apiInternalUrl = `http://127.0.0.1:${apiPort}`;
  console.log(`\n== deployment ${name}: app ${d.appUrl}, service ${d.apiUrl}`);
  console.log(`   service settings: ${Object.entries(d.apiEnv).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  const api = start("the service", binary, [], {
    cwd: work,
    logPath: join(dir, "service.log"),
    env: {
      BIND: "127.0.0.1",
      PORT: String(apiPort),
      DATABASE_URL: `sqlite://${join(work, "app.db")}?mode=rwc`,
      DATA_DIR: join(work, "data"),
      AUTH_SECRET: randomBytes(24).toString("hex"),
      RATE_LIMIT_ENABLED: "false",
      LOG_FORMAT: "json",
      RUST_LOG: "info",
      ...d.apiEnv,
    },
  });
  const app = start("the app (next start)", process.execPath, [join(APP_DIR, "node_modules/next/dist/bin/next"), "start", "-H", "127.0.0.1", "-p", String(appPort)], {
    cwd: APP_DIR,
    logPath: join(dir, "next.log"),
    env: { API_URL: d.apiUrl, API_INTERNAL_URL: apiInternalUrl, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
  });
  const t0 = Date.now();
  try {
    await waitFor(api, `${apiInternalUrl}/api/auth/ok`);
    await waitFor(app, `http://127.0.0.1:${appPort}/sign-in`);
    console.log(`   both up after ${Date.now() - t0} ms`);
    const result = await runJourney({ name, ...d, apiInternalUrl, artifactDir: dir });
    console.log(`   ${name}: ${result.passed} checks passed, ${result.failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots and logs in ${dir})`);
    return result;
  } catch (err) {
    console.log(`  FAIL ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return { passed: 0, failed: 1 };
  } finally {
    await Promise.all([stop(app), stop(api)]);
    rmSync(work, { recursive: true, force: true });
  }
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await Promise.all([...children].map(stop));
    process.exit(130);
  });
}

let passed = 0;
let failed = 0;
for (const name of selected) {
  const result = await deployment(name);
  passed += result.passed;
  failed += result.failed;
}
console.log(`\nwebapp: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
