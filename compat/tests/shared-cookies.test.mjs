// One database, two servers: a Node Better Auth 1.7.25 (dev/betterauth-server.mjs, the peer at
// COMPAT_PEER_URL) with advanced.cookiePrefix and crossSubDomainCookies, and the server under
// test with the same COOKIE_PREFIX and COOKIE_DOMAIN (and SESSION_TOKEN_STORAGE=plain). Both
// write byte-identical Set-Cookie lines, and a session made by either is a session on the
// other, until either ends it. The browser below keeps one cookie jar for both servers, as a
// browser does for two sibling subdomains under the cookie domain.
//
// Run by compat/run.sh in its shared-cookies phases, which export COMPAT_PEER_URL,
// COMPAT_COOKIE_PREFIX and COMPAT_COOKIE_DOMAIN.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAuthClient } from "better-auth/client";
import { API_URL, Browser, email, PASSWORD, parseSetCookie, SERVER, verifySignedCookieValue } from "./helpers.mjs";

const PEER_URL = (process.env.COMPAT_PEER_URL ?? "").replace(/\/+$/, "");
const PREFIX = process.env.COMPAT_COOKIE_PREFIX;
const DOMAIN = process.env.COMPAT_COOKIE_DOMAIN;
const skip = PEER_URL && PREFIX && DOMAIN ? false : "COMPAT_PEER_URL is not set (compat/run.sh sets it in its shared-cookies phases)";

const TOKEN = `${PREFIX}.session_token`;
const DATA = `${PREFIX}.session_data`;
const DONT_REMEMBER = `${PREFIX}.dont_remember`;
const ATTRIBUTES = `; Domain=${DOMAIN}; Path=/; HttpOnly; SameSite=Lax`;

const clientAt = (baseURL, browser) => createAuthClient({ baseURL, fetchOptions: { customFetchImpl: browser.fetch } });
/** A Set-Cookie line with its value replaced (values differ: tokens are random). */
const shape = (line) => line.replace(/^([^=]+)=[^;]*/, "$1=<value>");
/** The Set-Cookie lines of the last exchange with `path`. */
const linesOf = (browser, path) => browser.last(path).setCookie;

async function signUp(baseURL) {
	const browser = new Browser();
	const client = clientAt(baseURL, browser);
	const address = email("shared");
	const { data, error } = await client.signUp.email({ name: "Shared", email: address, password: PASSWORD });
	assert.equal(error, null, `sign-up at ${baseURL}: ${JSON.stringify(error)}`);
	return { browser, client, email: address, token: data.token };
}

async function signIn(baseURL, address, extra = {}) {
	const browser = new Browser();
	const { error } = await clientAt(baseURL, browser).signIn.email({ email: address, password: PASSWORD, ...extra });
	assert.equal(error, null, `sign-in at ${baseURL}: ${JSON.stringify(error)}`);
	return browser;
}

/** get-session at `baseURL` presenting only this Cookie header. */
async function sessionAt(baseURL, cookieHeader) {
	const browser = new Browser();
	browser.setCookieHeader(cookieHeader);
	const { data, error } = await clientAt(baseURL, browser).getSession();
	assert.equal(error, null);
	return data;
}

describe(`a custom cookie prefix and domain, shared with a Node Better Auth (${SERVER} next to it)`, { skip }, () => {
	it("both servers set and clear the session cookies with byte-identical Set-Cookie lines", async () => {
		const peer = await signUp(PEER_URL);
		const [peerLine] = linesOf(peer.browser, "/sign-up/email");
		assert.equal(shape(peerLine), `${TOKEN}=<value>; Max-Age=604800${ATTRIBUTES}`, "Node Better Auth's own line");
		assert.equal(verifySignedCookieValue(parseSetCookie(peerLine).value, TOKEN), peer.token);

		const here = await signIn(API_URL, peer.email);
		assert.deepEqual(linesOf(here, "/sign-in/email").map(shape), [shape(peerLine)], "a remembered sign-in here");

		const [peerShort, hereShort] = [await signIn(PEER_URL, peer.email, { rememberMe: false }), await signIn(API_URL, peer.email, { rememberMe: false })];
		const short = linesOf(peerShort, "/sign-in/email");
		assert.deepEqual(short.map(shape), [`${TOKEN}=<value>${ATTRIBUTES}`, `${DONT_REMEMBER}=<value>${ATTRIBUTES}`]);
		const hereLines = linesOf(hereShort, "/sign-in/email");
		assert.deepEqual(hereLines.map(shape), short.map(shape), "rememberMe: false here");
		assert.equal(hereLines[1], short[1], "the signed dont_remember flag is the same value");

		await clientAt(PEER_URL, peerShort).signOut();
		await clientAt(API_URL, hereShort).signOut();
		const clearing = [TOKEN, DATA, DONT_REMEMBER].map((name) => `${name}=; Max-Age=0${ATTRIBUTES}`);
		assert.deepEqual(linesOf(peerShort, "/sign-out"), clearing, "Node Better Auth clears with the same Domain");
		assert.deepEqual(linesOf(hereShort, "/sign-out"), clearing, "and so does this server");
	});

	it("a session Node Better Auth made is a session here, and signing out here ends it there", async () => {
		const peer = await signUp(PEER_URL);
		const there = (await peer.client.getSession()).data;
		const cookieHeader = peer.browser.cookieHeader();

		const { data: here, error } = await clientAt(API_URL, peer.browser).getSession();
		assert.equal(error, null);
		assert.notEqual(here, null, "the peer's cookie is a session here");
		assert.equal(here.session.id, there.session.id);
		assert.equal(here.user.email, peer.email);
		if (SERVER === "rust") {
			const tasks = await peer.browser.request("/api/v1/tasks");
			assert.equal(tasks.status, 200, "and it authenticates the tasks API");
		}

		const { error: outError } = await clientAt(API_URL, peer.browser).signOut();
		assert.equal(outError, null);
		assert.equal(await sessionAt(PEER_URL, cookieHeader), null, "signed out here: gone there");
		assert.equal(await sessionAt(API_URL, cookieHeader), null, "and here");
	});

	it("a session made here is a session on Node Better Auth, and signing out there ends it here", async () => {
		const mine = await signUp(API_URL);
		const cookieHeader = mine.browser.cookieHeader();
		const here = await sessionAt(API_URL, cookieHeader);
		assert.notEqual(here, null);

		const there = await sessionAt(PEER_URL, cookieHeader);
		assert.notEqual(there, null, "this server's cookie is a session on Node Better Auth");
		assert.equal(there.session.id, here.session.id);
		assert.equal(there.user.email, mine.email);

		const { error } = await clientAt(PEER_URL, mine.browser).signOut();
		assert.equal(error, null);
		// This server may have cached the session. On SQLite this phase runs it without the cache;
		// on PostgreSQL the peer's delete reaches it through a trigger's NOTIFY, which arrives a
		// moment after the delete commits: allow it two seconds.
		const deadline = Date.now() + 2_000;
		let after = await sessionAt(API_URL, cookieHeader);
		while (after !== null && Date.now() < deadline) {
			await new Promise((r) => setTimeout(r, 25));
			after = await sessionAt(API_URL, cookieHeader);
		}
		assert.equal(after, null, "signed out there: gone here within two seconds");
	});

	it("the default cookie name carries no session on either server", async () => {
		const mine = await signUp(API_URL);
		const value = mine.browser.cookies.get(TOKEN);
		assert.ok(value, `the jar holds ${TOKEN}`);
		for (const url of [API_URL, PEER_URL]) {
			assert.equal(await sessionAt(url, `better-auth.session_token=${value}`), null, `${url}: another cookie`);
			assert.notEqual(await sessionAt(url, `${TOKEN}=${value}`), null, `${url}: the configured name`);
		}
	});
});
