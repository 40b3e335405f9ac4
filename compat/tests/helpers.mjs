// Shared test helpers: a browser-like cookie-keeping fetch that records every
// exchange, client factories, wire-format checks (`docs/better-auth-wire.md` §4.2/§4.3) and
// the gates used by tests whose endpoint may not exist yet.
//
// Environment (exported by run.sh / lib/run.mjs):
//   API_URL              base URL of the server under test (no trailing slash)
//   AUTH_SECRET          the server's secret, to verify cookie signatures ourselves
//   COMPAT_SERVER        "rust" (our service) or "betterauth" (the reference server)
//   COMPAT_DB_KIND       "sqlite" | "postgres"
//   COMPAT_DB_PATH       SQLite file of the server (sqlite runs)
//   COMPAT_DB_URL        database URL of the server (postgres runs)
//   COMPAT_TOKEN_STORAGE "hashed" | "plain": how the server stores session.token
//   MAIL_OUTBOX          JSON-lines mail outbox written by the server
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createAuthClient } from "better-auth/client";

export const API_URL = (process.env.API_URL ?? "").replace(/\/+$/, "");
export const AUTH_SECRET = process.env.AUTH_SECRET ?? "";
export const SERVER = process.env.COMPAT_SERVER ?? "rust";
export const TOKEN_STORAGE = process.env.COMPAT_TOKEN_STORAGE ?? (SERVER === "betterauth" ? "plain" : "hashed");
export const TRUSTED_ORIGIN = "http://localhost:3000";
export const AUTH = `${API_URL}/api/auth`;
export const COOKIE = "better-auth.session_token";
export const DATA_COOKIE = "better-auth.session_data";
export const DONT_REMEMBER_COOKIE = "better-auth.dont_remember";
export const SEVEN_DAYS_S = 604800;
export const ONE_DAY_S = 86400;

if (!API_URL) throw new Error("API_URL is not set: run the suite through compat/run.sh");
if (AUTH_SECRET.length < 32) throw new Error("AUTH_SECRET (the server's secret) is not set");

/** A random lower-case suffix, so that every test uses its own e-mail addresses. */
export function uniq() {
	return randomBytes(6).toString("hex");
}

/** A fresh e-mail address with the given prefix. */
export function email(prefix = "user") {
	return `${prefix}-${uniq()}@example.com`;
}

export const PASSWORD = "correct horse battery";

// ---------------------------------------------------------------------------
// Signed cookies (`docs/better-auth-wire.md` §4.3)

/** Standard padded base64 HMAC-SHA256 of `value` under AUTH_SECRET (44 chars). */
export function signature(value) {
	return createHmac("sha256", AUTH_SECRET).update(value, "utf8").digest("base64");
}

/** The cookie value Better Auth writes for `value`: encodeURIComponent(value + "." + sig). */
export function signedCookieValue(value) {
	return encodeURIComponent(`${value}.${signature(value)}`);
}

/** Lower-case hex SHA-256, how our server stores session tokens in hashed mode. */
export function sha256Hex(text) {
	return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * Checks one signed cookie value (percent-encoded, as on the wire) and returns
 * the raw value before the signature.
 */
export function verifySignedCookieValue(encoded, what = "cookie") {
	assert.equal(encoded, encodeURIComponent(decodeURIComponent(encoded)), `${what}: value must be encodeURIComponent-encoded`);
	const decoded = decodeURIComponent(encoded);
	const dot = decoded.lastIndexOf(".");
	assert.ok(dot > 0, `${what}: signed value must be <value>.<signature>: ${decoded}`);
	const value = decoded.slice(0, dot);
	const sig = decoded.slice(dot + 1);
	assert.equal(sig.length, 44, `${what}: signature must be 44 chars of padded base64: ${sig}`);
	assert.equal(sig, signature(value), `${what}: HMAC-SHA256 signature under AUTH_SECRET does not verify`);
	return value;
}

export function assertToken(token, what = "token") {
	assert.equal(typeof token, "string", `${what} must be a string`);
	assert.match(token, /^[A-Za-z0-9]{32}$/, `${what} must be 32 alphanumeric characters`);
}

// ---------------------------------------------------------------------------
// Set-Cookie parsing

/** Parses one Set-Cookie line into `{ name, value, attrs: {lower-case name: value|true}, line }`. */
export function parseSetCookie(line) {
	const [pair, ...rest] = line.split(";");
	const eq = pair.indexOf("=");
	const attrs = {};
	for (const a of rest) {
		const t = a.trim();
		if (!t) continue;
		const i = t.indexOf("=");
		if (i < 0) attrs[t.toLowerCase()] = true;
		else attrs[t.slice(0, i).toLowerCase()] = t.slice(i + 1);
	}
	return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs, line };
}

/** The exact clearing lines Better Auth sends, in its order (`docs/better-auth-wire.md` §4.2). */
export const CLEARING_LINES = [COOKIE, DATA_COOKIE, DONT_REMEMBER_COOKIE].map(
	(name) => `${name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax`,
);

// ---------------------------------------------------------------------------
// The browser: a cookie jar + a recording fetch

/**
 * A fake browser tab on `origin`: keeps cookies from Set-Cookie (Max-Age<=0
 * deletes), sends them back, sends `Origin` on every request (like a page on a
 * trusted origin) and records every exchange for wire assertions.
 */
export class Browser {
	constructor({ origin = TRUSTED_ORIGIN, cookies = true } = {}) {
		this.origin = origin;
		this.keepCookies = cookies;
		/** name -> value (still percent-encoded, exactly as received) */
		this.cookies = new Map();
		/** every exchange, oldest first */
		this.exchanges = [];
		this.fetch = this.fetch.bind(this);
	}

	cookieHeader() {
		return [...this.cookies].map(([n, v]) => `${n}=${v}`).join("; ");
	}

	/** Replaces the jar content with a raw Cookie header string. */
	setCookieHeader(header) {
		this.cookies.clear();
		for (const part of header.split(";")) {
			const t = part.trim();
			if (!t) continue;
			const i = t.indexOf("=");
			this.cookies.set(t.slice(0, i), t.slice(i + 1));
		}
	}

	store(setCookieLines) {
		for (const line of setCookieLines) {
			const c = parseSetCookie(line);
			const maxAge = c.attrs["max-age"];
			const expired =
				(maxAge !== undefined && Number(maxAge) <= 0) ||
				(typeof c.attrs.expires === "string" && Date.parse(c.attrs.expires) <= Date.now());
			if (expired || c.value === "") this.cookies.delete(c.name);
			else this.cookies.set(c.name, c.value);
		}
	}

	async fetch(input, init = {}) {
		const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
		const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
		if (this.origin) headers.set("origin", this.origin);
		if (this.keepCookies && this.cookies.size > 0) headers.set("cookie", this.cookieHeader());
		const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
		const body = init.body;
		const res = await fetch(url, { method, headers, body, redirect: init.redirect ?? "manual", signal: init.signal });
		const setCookie = res.headers.getSetCookie();
		if (this.keepCookies) this.store(setCookie);
		const text = await res.clone().text();
		this.exchanges.push({
			method,
			url,
			path: new URL(url).pathname,
			requestHeaders: Object.fromEntries(headers),
			requestBody: typeof body === "string" ? body : undefined,
			status: res.status,
			headers: res.headers,
			setCookie,
			text,
		});
		return res;
	}

	/** The most recent exchange whose path ends with `suffix` (e.g. "/sign-in/email"). */
	last(suffix) {
		for (let i = this.exchanges.length - 1; i >= 0; i--) {
			if (this.exchanges[i].path.endsWith(suffix)) return this.exchanges[i];
		}
		assert.fail(`no request to *${suffix} was recorded; saw ${this.exchanges.map((e) => e.path).join(", ")}`);
	}

	/** The raw session token the jar currently holds (signature verified). */
	sessionToken() {
		const v = this.cookies.get(COOKIE);
		return v === undefined ? undefined : verifySignedCookieValue(v, COOKIE);
	}

	/** Sends a raw request with this browser's cookies and Origin (for things the client cannot express). */
	request(path, { method = "GET", json, headers = {}, ...rest } = {}) {
		const h = new Headers(headers);
		let body;
		if (json !== undefined) {
			h.set("content-type", "application/json");
			body = JSON.stringify(json);
		}
		return this.fetch(path.startsWith("http") ? path : `${API_URL}${path}`, { method, headers: h, body, ...rest });
	}
}

/** createAuthClient exactly as an app would, with `browser.fetch` as its fetch. */
export function clientFor(browser, fetchOptions = {}) {
	return createAuthClient({ baseURL: API_URL, fetchOptions: { customFetchImpl: browser.fetch, ...fetchOptions } });
}

/** A new browser tab and its client. */
export function newBrowser(opts) {
	const browser = new Browser(opts);
	return { browser, client: clientFor(browser) };
}

/** Signs up a fresh user in a fresh browser; returns everything a test needs. */
export async function signedUpUser({ prefix = "user", password = PASSWORD, name = "Test User" } = {}) {
	const { browser, client } = newBrowser();
	const address = email(prefix);
	const { data, error } = await client.signUp.email({ name, email: address, password });
	assert.equal(error, null, `sign-up failed: ${JSON.stringify(error)}`);
	return { browser, client, email: address, password, user: data.user, token: data.token };
}

/** Signs in `address` in a fresh browser. */
export async function signedInBrowser(address, password = PASSWORD, extra = {}) {
	const { browser, client } = newBrowser();
	const { data, error } = await client.signIn.email({ email: address, password, ...extra });
	assert.equal(error, null, `sign-in failed: ${JSON.stringify(error)}`);
	return { browser, client, token: data.token, user: data.user };
}

/** Asserts that the client returned an error with this status and code (and message if given). */
export function assertClientError(result, { status, code, message }) {
	assert.equal(result.data, null, `expected an error, got data ${JSON.stringify(result.data)}`);
	assert.ok(result.error, "expected an error object");
	assert.equal(result.error.status, status, `status (error ${JSON.stringify(result.error)})`);
	assert.equal(result.error.code, code, `code (error ${JSON.stringify(result.error)})`);
	if (message !== undefined) assert.equal(result.error.message, message, "message");
}

/** Asserts `value` is a Date within `toleranceS` seconds of `expectedMs`. */
export function assertDateNear(value, expectedMs, toleranceS, what) {
	assert.ok(value instanceof Date, `${what} must be parsed into a Date by the client, got ${typeof value}`);
	const diff = Math.abs(value.getTime() - expectedMs) / 1000;
	assert.ok(diff <= toleranceS, `${what} is ${value.toISOString()}, expected about ${new Date(expectedMs).toISOString()} (±${toleranceS}s)`);
}

/** A get-session call with a raw Cookie header only (no jar), returning the parsed body. */
export async function getSessionWithCookieHeader(cookieHeader) {
	const res = await fetch(`${AUTH}/get-session`, { headers: { cookie: cookieHeader } });
	assert.equal(res.status, 200, "get-session answers 200 even without a session");
	return JSON.parse(await res.text());
}

// ---------------------------------------------------------------------------
// Gates for endpoints that may not exist yet (issue 8)

const existence = new Map();

/**
 * True unless probing `method path` answers 404 with an empty body or code
 * NOT_FOUND, i.e. the route does not exist. The probe carries no cookie, so it
 * changes nothing (it gets 400/401 when the route exists).
 */
export async function endpointExists(method, path) {
	const key = `${method} ${path}`;
	if (!existence.has(key)) {
		const init = { method, headers: { origin: TRUSTED_ORIGIN } };
		if (method !== "GET") {
			init.headers["content-type"] = "application/json";
			init.body = "{}";
		}
		const res = await fetch(`${API_URL}${path}`, init);
		const text = await res.text();
		let code;
		try {
			code = JSON.parse(text)?.code;
		} catch {}
		existence.set(key, !(res.status === 404 && (text === "" || code === "NOT_FOUND")));
	}
	return existence.get(key);
}

/** For `it(name, gate(...), fn)`-style skips: returns a skip message or false. */
export async function skipUnlessEndpoints(...endpoints) {
	const missing = [];
	for (const e of endpoints) {
		const [method, path] = e.split(" ");
		if (!(await endpointExists(method, path))) missing.push(e);
	}
	return missing.length ? `endpoint not implemented yet (404 NOT_FOUND): ${missing.join(", ")}` : false;
}

// ---------------------------------------------------------------------------
// Mail outbox (MAIL_TRANSPORT=file)

/** All mails in the outbox so far. */
export function readOutbox() {
	const path = process.env.MAIL_OUTBOX;
	if (!path || !existsSync(path)) return [];
	return readFileSync(path, "utf8")
		.split("\n")
		.filter((l) => l.trim())
		.map((l) => JSON.parse(l));
}

/** Waits (up to 5 s) for a mail to `to` matching `pred`; mails may be sent in the background. */
export async function waitForMail(to, pred = () => true, timeoutMs = 5000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const mail = readOutbox().filter((m) => m.to === to && pred(m)).at(-1);
		if (mail) return mail;
		if (Date.now() > deadline) assert.fail(`no mail to ${to} in ${process.env.MAIL_OUTBOX} after ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 50));
	}
}
