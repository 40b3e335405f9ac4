#!/usr/bin/env node
// Orchestrates the compatibility suite (called by compat/run.sh):
// for each database (SQLite always, PostgreSQL when COMPAT_PG_URL is set) start
// the server under test on an ephemeral port, wait for its `listening on` line,
// run the node:test files against it, stop it with SIGTERM; then the same with a
// database written by real Better Auth (fixture phase), and with a Node Better
// Auth running next to it on one database with a custom cookie prefix and
// domain (shared-cookies phase), the jwt plugin (shared-jwt) or rate limiting
// counted in the rateLimit table (shared-rate-limit, PostgreSQL). Exits non-zero if anything failed.
//
//   node lib/run.mjs <path-to-api-binary>   our Rust service
//   node lib/run.mjs --reference            real Better Auth (dev/betterauth-server.mjs)
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const COMPAT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TESTS_DIR = join(COMPAT_DIR, "tests");
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const LISTENING = /listening on (https?:\/\/[^\s"'\\,}]+)/;

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

const arg = process.argv[2];
if (!arg || arg === "-h" || arg === "--help") {
	console.error("usage: compat/run.sh <path-to-api-binary> | --reference");
	process.exit(2);
}
const reference = arg === "--reference";
const serverCommand = reference
	? [process.execPath, join(COMPAT_DIR, "dev", "betterauth-server.mjs")]
	: [resolve(arg)];
if (!reference && !(existsSync(serverCommand[0]) && statSync(serverCommand[0]).isFile())) {
	console.error(`compat: no server binary at ${serverCommand[0]}`);
	process.exit(2);
}
const serverKind = reference ? "betterauth" : "rust";
const peerCommand = [process.execPath, join(COMPAT_DIR, "dev", "betterauth-server.mjs")];
const authSecret = randomBytes(24).toString("hex"); // 48 chars, fresh for every run
const workDir = mkdtempSync(join(tmpdir(), "compat-"));
// Files that need a phase of their own.
const PHASE_TESTS = [
	"fixture.test.mjs",
	"shared-cookies.test.mjs",
	"jwt-shared.test.mjs",
	"two-factor-shared.test.mjs",
	"rate-limit-shared.test.mjs",
];
const mainTests = readdirSync(TESTS_DIR)
	.filter((f) => f.endsWith(".test.mjs") && !PHASE_TESTS.includes(f))
	.sort()
	.map((f) => join(TESTS_DIR, f));
// On an adopted Better Auth database (SESSION_TOKEN_STORAGE=plain) also re-run the
// storage checks, which then expect raw tokens as Better Auth stores them.
const fixtureTests = [join(TESTS_DIR, "fixture.test.mjs"), join(TESTS_DIR, "db-interop.test.mjs")];
// The cookie settings both servers get in the shared-cookies phase (COOKIE_DOMAIN must cover
// BASE_URL's host; the test clients still reach both servers on 127.0.0.1).
const SHARED_COOKIES = { BASE_URL: "http://api.example.test", COOKIE_PREFIX: "shop", COOKIE_DOMAIN: "example.test" };
const sharedCookieTests = [join(TESTS_DIR, "shared-cookies.test.mjs"), join(TESTS_DIR, "two-factor-shared.test.mjs")];
// The jwt plugin on one database with a Node Better Auth: the same BASE_URL (so `iss` and `aud`
// agree) and a short key rotation on both, so that each server creates a key the other signs with.
const SHARED_JWT = { BASE_URL: "http://auth.example.test", JWKS_ROTATION_INTERVAL: "4" };
const sharedJwtTests = [join(TESTS_DIR, "jwt-shared.test.mjs")];
// Rate limiting on both, counted in Better Auth's rateLimit table; both take the client address
// from X-Forwarded-For (Better Auth by default, this server as TRUSTED_PROXIES allows).
const SHARED_RATE_LIMIT = { RATE_LIMIT_ENABLED: "true", RATE_LIMIT_STORAGE: "database" };
const sharedRateLimitTests = [join(TESTS_DIR, "rate-limit-shared.test.mjs")];

/** Everything that must be undone on exit: running servers, databases to drop. */
const cleanups = [];
let interrupted = false;

function log(msg) {
	console.log(`compat: ${msg}`);
}

// ---------------------------------------------------------------------------
// Server lifecycle

async function startServer(phase, env, command = serverCommand) {
	const logPath = join(workDir, `${phase}-server.log`);
	const logFile = createWriteStream(logPath);
	const lines = [];
	const child = spawn(command[0], command.slice(1), {
		env: { ...process.env, ...env },
		stdio: ["ignore", "pipe", "pipe"],
		cwd: workDir,
	});
	const server = { child, lines, logPath, exited: null };
	const exited = new Promise((res) => {
		child.once("exit", (code, signal) => res((server.exited = { code, signal })));
		// spawn failures (ENOENT, EACCES) emit "error" and no "exit"
		child.once("error", (error) => res((server.exited = { code: null, signal: null, error })));
	});
	server.exitedPromise = exited;
	cleanups.push(() => stopServer(server));

	const url = await new Promise((resolvePromise, reject) => {
		const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
		let found = false;
		const onData = (chunk, rest) => {
			const text = rest.value + chunk.toString("utf8");
			const parts = text.split("\n");
			rest.value = parts.pop();
			for (const raw of parts) {
				const line = raw.replace(ANSI, "");
				lines.push(line);
				logFile.write(`${line}\n`);
				const m = LISTENING.exec(line);
				if (m && !found) {
					found = true;
					clearTimeout(timer);
					resolvePromise(m[1].replace(/\/+$/, ""));
				}
			}
		};
		const outRest = { value: "" };
		const errRest = { value: "" };
		child.stdout.on("data", (c) => onData(c, outRest));
		child.stderr.on("data", (c) => onData(c, errRest));
		exited.then(({ code, signal, error }) => {
			clearTimeout(timer);
			if (!found) reject(error ?? new Error(`server exited before listening (code ${code}, signal ${signal})`));
		});
	}).catch((e) => {
		printServerLog(server, `server failed to start: ${e.message}`);
		throw e;
	});
	server.url = url;
	return server;
}

async function stopServer(server) {
	if (server.exited || server.stopping) return server.stopping ?? server.exited;
	server.stopping = (async () => {
		server.child.kill("SIGTERM");
		const timeout = new Promise((r) => setTimeout(() => r("timeout"), STOP_TIMEOUT_MS));
		if ((await Promise.race([server.exitedPromise, timeout])) === "timeout") {
			log(`server (pid ${server.child.pid}) ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000} s; sending SIGKILL`);
			server.child.kill("SIGKILL");
			await server.exitedPromise;
		}
		return server.exited;
	})();
	return server.stopping;
}

function printServerLog(server, title) {
	const tail = server.lines.slice(-200);
	console.log(`\n----- ${title}: server log (${server.logPath}, last ${tail.length} lines) -----`);
	for (const l of tail) console.log(l);
	console.log("----- end of server log -----\n");
}

// ---------------------------------------------------------------------------
// Test runs

function runNodeTests(files, env, concurrency = 4) {
	return new Promise((resolvePromise) => {
		const child = spawn(
			process.execPath,
			["--test", "--test-reporter=spec", `--test-concurrency=${concurrency}`, "--test-timeout=120000", ...files],
			{ env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit"], cwd: COMPAT_DIR },
		);
		child.once("exit", (code, signal) => resolvePromise(code === 0 && !signal));
	});
}

/**
 * Starts the server for one phase, runs `files` against it, stops it. Returns true when all
 * passed. With `peerEnv`, a Node Better Auth (dev/betterauth-server.mjs) is started first on
 * the same database with those settings, and its URL is given to the tests as COMPAT_PEER_URL.
 */
async function phase(name, { databaseUrl, dbEnv, tokenStorage, files, extraTestEnv = {}, serverEnv = {}, peerEnv = null, concurrency = 4 }) {
	if (interrupted) return false;
	log(`=== ${name}: starting ${serverKind} server (${serverCommand.join(" ")}) ===`);
	const outbox = join(workDir, `${name}-outbox.jsonl`);
	const t0 = Date.now();
	const common = {
		BIND: "127.0.0.1",
		PORT: "0",
		DATABASE_URL: databaseUrl,
		AUTH_SECRET: authSecret,
		TRUSTED_ORIGINS: "http://localhost:3000",
		RATE_LIMIT_ENABLED: "false",
		LOG_FORMAT: "json",
		RUST_LOG: process.env.RUST_LOG ?? "info",
		MAIL_TRANSPORT: "file",
	};
	let server;
	let peer;
	try {
		if (peerEnv) {
			peer = await startServer(`${name}-peer`, { ...common, MAIL_OUTBOX: join(workDir, `${name}-peer-outbox.jsonl`), ...peerEnv }, peerCommand);
			log(`${name}: Node Better Auth peer ready at ${peer.url} on the same database`);
		}
		server = await startServer(name, { ...common, SESSION_TOKEN_STORAGE: tokenStorage, MAIL_OUTBOX: outbox, ...serverEnv });
	} catch {
		if (peer) await stopServer(peer);
		return false;
	}
	log(`${name}: server ready at ${server.url} after ${Date.now() - t0} ms; running ${files.length} test file(s)`);
	const passed = await runNodeTests(files, {
		...(peer ? { COMPAT_PEER_URL: peer.url } : {}),
		API_URL: server.url,
		AUTH_SECRET: authSecret,
		COMPAT_SERVER: serverKind,
		COMPAT_TOKEN_STORAGE: reference ? "plain" : tokenStorage,
		MAIL_OUTBOX: outbox,
		...dbEnv,
		...extraTestEnv,
	}, concurrency);
	const exit = await stopServer(server);
	if (peer) await stopServer(peer);
	if (!passed) {
		printServerLog(server, `${name} failed`);
		if (peer) printServerLog(peer, `${name} failed (Node Better Auth peer)`);
	}
	const clean = exit.code === 0 || (reference && exit.signal === "SIGTERM");
	if (!clean) log(`warning: ${name}: server did not exit 0 on SIGTERM (code ${exit.code}, signal ${exit.signal})`);
	log(`${name}: ${passed ? "PASSED" : "FAILED"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	return passed;
}

/** Runs the fixture script (real Better Auth writes the database). */
function makeFixture(target, out) {
	return new Promise((resolvePromise) => {
		const child = spawn(process.execPath, [join(COMPAT_DIR, "fixture", "make-betterauth-db.mjs"), target, out], {
			env: { ...process.env, AUTH_SECRET: authSecret },
			stdio: ["ignore", "inherit", "inherit"],
			cwd: COMPAT_DIR,
		});
		child.once("exit", (code) => resolvePromise(code === 0));
	});
}

// ---------------------------------------------------------------------------
// Databases

function sqliteUrl(path) {
	return `sqlite://${path}?mode=rwc`;
}

async function createPgDatabase(serverUrl, suffix) {
	const name = `compat_${randomBytes(5).toString("hex")}${suffix}`;
	const admin = new pg.Client({ connectionString: serverUrl });
	await admin.connect();
	try {
		await admin.query(`CREATE DATABASE "${name}"`);
	} finally {
		await admin.end();
	}
	cleanups.push(async () => {
		const c = new pg.Client({ connectionString: serverUrl });
		await c.connect();
		try {
			await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
		} finally {
			await c.end();
		}
	});
	const url = new URL(serverUrl);
	url.pathname = `/${name}`;
	return url.href;
}

async function cleanup() {
	while (cleanups.length) {
		const fn = cleanups.pop();
		try {
			await fn();
		} catch (e) {
			log(`cleanup: ${e.message}`);
		}
	}
	if (!process.env.COMPAT_KEEP_TMP) rmSync(workDir, { recursive: true, force: true });
	else log(`kept ${workDir}`);
}

for (const sig of ["SIGINT", "SIGTERM"]) {
	process.on(sig, async () => {
		interrupted = true;
		log(`${sig}: stopping`);
		await cleanup();
		process.exit(130);
	});
}

// ---------------------------------------------------------------------------
// Main

const results = [];
/** Runs one phase and records its outcome. */
async function record(name, options) {
	results.push([name, await phase(name, options)]);
}

/** A phase with the Node Better Auth peer on the server's database: both get `env`, the server `serverEnv` too. */
function recordWithPeer(name, databaseUrl, dbEnv, { files, env, serverEnv = {}, tokenStorage = "plain", extraTestEnv = {} }) {
	return record(name, { databaseUrl, dbEnv, tokenStorage, files, serverEnv: { ...env, ...serverEnv }, peerEnv: env, extraTestEnv });
}

/** A shared-jwt phase: the Node Better Auth peer and the server on one database, keys rotating. */
function recordSharedJwt(name, databaseUrl, dbEnv) {
	return recordWithPeer(name, databaseUrl, dbEnv, {
		files: sharedJwtTests,
		env: SHARED_JWT,
		extraTestEnv: { COMPAT_JWT_ISSUER: SHARED_JWT.BASE_URL, COMPAT_JWT_ROTATION: SHARED_JWT.JWKS_ROTATION_INTERVAL },
	});
}

/** A shared-cookies phase: the Node Better Auth peer and the server (plus `serverEnv`) on one database. */
function recordShared(name, databaseUrl, dbEnv, serverEnv = {}) {
	return record(name, {
		databaseUrl,
		dbEnv,
		tokenStorage: "plain",
		files: sharedCookieTests,
		serverEnv: { ...SHARED_COOKIES, ...serverEnv },
		// The peer also has the two-factor plugin (two-factor-shared.test.mjs).
		peerEnv: { ...SHARED_COOKIES, TWO_FACTOR: "true" },
		// One file at a time: two processes writing one SQLite file at once make Better Auth's
		// better-sqlite3 fail with "database is locked" (it does not wait for the lock).
		concurrency: 1,
		extraTestEnv: { COMPAT_COOKIE_PREFIX: SHARED_COOKIES.COOKIE_PREFIX, COMPAT_COOKIE_DOMAIN: SHARED_COOKIES.COOKIE_DOMAIN },
	});
}

try {
	// 1. SQLite, our default (hashed) token storage
	const sqlitePath = join(workDir, "compat.db");
	await record("sqlite", {
		databaseUrl: sqliteUrl(sqlitePath),
		dbEnv: { COMPAT_DB_KIND: "sqlite", COMPAT_DB_PATH: sqlitePath },
		tokenStorage: "hashed",
		files: mainTests,
	});

	// 2. SQLite database written by real Better Auth, adopted by our server in plain mode
	const fixtureDb = join(workDir, "betterauth-fixture.db");
	const fixtureJson = join(workDir, "betterauth-fixture.json");
	const adopted = join(workDir, "betterauth-fixture-copy.db");
	if (await makeFixture(fixtureDb, fixtureJson)) {
		copyFileSync(fixtureDb, adopted);
		await record("sqlite-fixture", {
			databaseUrl: sqliteUrl(adopted),
			dbEnv: { COMPAT_DB_KIND: "sqlite", COMPAT_DB_PATH: adopted },
			tokenStorage: "plain",
			files: fixtureTests,
			extraTestEnv: { COMPAT_FIXTURE: fixtureJson },
		});
	} else {
		results.push(["sqlite-fixture (Better Auth could not write the fixture)", false]);
	}

	// 3. SQLite shared with a Node Better Auth, custom cookie prefix and domain on both. Without a
	// change channel on SQLite, the session cache is off so that the peer's sign-outs count at once.
	const sharedPath = join(workDir, "shared.db");
	await recordShared("sqlite-shared-cookies", sqliteUrl(sharedPath), { COMPAT_DB_KIND: "sqlite", COMPAT_DB_PATH: sharedPath }, {
		SESSION_CACHE_TTL: "0",
	});
	const sharedJwtPath = join(workDir, "shared-jwt.db");
	await recordSharedJwt("sqlite-shared-jwt", sqliteUrl(sharedJwtPath), { COMPAT_DB_KIND: "sqlite", COMPAT_DB_PATH: sharedJwtPath });

	// 4. PostgreSQL, when a server URL is given
	const pgServer = process.env.COMPAT_PG_URL;
	if (pgServer) {
		const dbUrl = await createPgDatabase(pgServer, "");
		await record("postgres", {
			databaseUrl: dbUrl,
			dbEnv: { COMPAT_DB_KIND: "postgres", COMPAT_DB_URL: dbUrl },
			tokenStorage: "hashed",
			files: mainTests,
		});
		const fxUrl = await createPgDatabase(pgServer, "_fixture");
		const fxJson = join(workDir, "betterauth-fixture-pg.json");
		if (await makeFixture(fxUrl, fxJson)) {
			await record("postgres-fixture", {
				databaseUrl: fxUrl,
				dbEnv: { COMPAT_DB_KIND: "postgres", COMPAT_DB_URL: fxUrl },
				tokenStorage: "plain",
				files: fixtureTests,
				extraTestEnv: { COMPAT_FIXTURE: fxJson },
			});
		} else {
			results.push(["postgres-fixture (Better Auth could not write the fixture)", false]);
		}
		// Shared with a Node Better Auth; the session cache stays on (default TTL): PostgreSQL's
		// triggers report the peer's sign-outs to it.
		const sharedUrl = await createPgDatabase(pgServer, "_shared");
		await recordShared("postgres-shared-cookies", sharedUrl, { COMPAT_DB_KIND: "postgres", COMPAT_DB_URL: sharedUrl });
		const sharedJwtUrl = await createPgDatabase(pgServer, "_jwt");
		await recordSharedJwt("postgres-shared-jwt", sharedJwtUrl, { COMPAT_DB_KIND: "postgres", COMPAT_DB_URL: sharedJwtUrl });
		const sharedLimitUrl = await createPgDatabase(pgServer, "_ratelimit");
		// Rate limiting counted in the rateLimit table by both (PostgreSQL: Better Auth's
		// better-sqlite3 does not wait for another process's lock).
		await recordWithPeer("postgres-shared-rate-limit", sharedLimitUrl, { COMPAT_DB_KIND: "postgres", COMPAT_DB_URL: sharedLimitUrl }, {
			files: sharedRateLimitTests,
			env: SHARED_RATE_LIMIT,
			serverEnv: { TRUSTED_PROXIES: "127.0.0.1/32" },
			tokenStorage: "hashed",
		});
	} else {
		log("COMPAT_PG_URL is not set: PostgreSQL phases skipped");
	}
} catch (e) {
	log(`error: ${e.stack ?? e}`);
	results.push(["runner", false]);
} finally {
	await cleanup();
}

log(`summary against ${serverKind}: ${results.map(([n, ok]) => `${n} ${ok ? "ok" : "FAILED"}`).join(", ")}`);
process.exit(results.every(([, ok]) => ok) ? 0 : 1);
