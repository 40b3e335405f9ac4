// Sign-up through the official client: body, parsed types, Set-Cookie,
// set-auth-token, then get-session with the cookie the client kept.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
	assertDateNear,
	assertToken,
	COOKIE,
	email,
	newBrowser,
	PASSWORD,
	SEVEN_DAYS_S,
	signature,
	signedCookieValue,
	verifySignedCookieValue,
} from "./helpers.mjs";

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("sign-up (POST /sign-up/email)", () => {
	it("returns the new user and a session token, sets the signed cookie, and get-session sees it", async () => {
		const { browser, client } = newBrowser();
		const address = email("sign.up");
		const mixedCase = address.replace("sign.up", "Sign.Up").replace("example.com", "Example.COM");
		assert.notEqual(mixedCase, address);
		const before = Date.now();

		const { data, error } = await client.signUp.email({ name: "Ada Lovelace", email: mixedCase, password: PASSWORD });

		assert.equal(error, null);
		// --- what the client returns
		assert.deepEqual(Object.keys(data).sort(), ["token", "user"]);
		assertToken(data.token, "data.token");
		const user = data.user;
		assert.match(user.id, /^[A-Za-z0-9]{32}$/, "user.id is 32 alphanumeric characters");
		assert.equal(user.email, address, "email is stored lower-cased");
		assert.equal(user.name, "Ada Lovelace");
		assert.equal(user.emailVerified, false);
		assert.equal(user.image, null);
		assertDateNear(user.createdAt, before, 60, "user.createdAt");
		assertDateNear(user.updatedAt, before, 60, "user.updatedAt");

		// --- the wire
		const ex = browser.last("/api/auth/sign-up/email");
		assert.equal(ex.status, 200, "sign-up answers 200, never 201");
		assert.match(ex.headers.get("content-type") ?? "", /^application\/json/);
		assert.equal(ex.requestHeaders.origin, "http://localhost:3000");
		const raw = JSON.parse(ex.text);
		assert.match(raw.user.createdAt, ISO_MS, "dates are toISOString() text");
		assert.match(raw.user.updatedAt, ISO_MS);
		assert.equal(raw.user.image, null, "absent image is null, not omitted");
		assert.deepEqual(ex.setCookie, [`${COOKIE}=${signedCookieValue(data.token)}; Max-Age=${SEVEN_DAYS_S}; Path=/; HttpOnly; SameSite=Lax`]);
		const cookieValue = ex.setCookie[0].split(";")[0].slice(COOKIE.length + 1);
		assert.equal(verifySignedCookieValue(cookieValue), data.token, "the cookie signs the returned token");
		// bearer plugin: set-auth-token is the decoded signed value, and is exposed to CORS callers
		assert.equal(ex.headers.get("set-auth-token"), `${data.token}.${signature(data.token)}`);
		const exposed = (ex.headers.get("access-control-expose-headers") ?? "").split(",").map((s) => s.trim().toLowerCase());
		assert.ok(exposed.includes("set-auth-token"), `Access-Control-Expose-Headers lists set-auth-token: ${exposed}`);

		// --- get-session with the cookie the jar kept
		const session = await client.getSession();
		assert.equal(session.error, null);
		assert.equal(session.data.session.token, data.token, "session.token is the raw token");
		assert.equal(session.data.session.userId, user.id);
		assert.match(session.data.session.id, /^[A-Za-z0-9]{32}$/);
		assertDateNear(session.data.session.expiresAt, before + SEVEN_DAYS_S * 1000, 60, "session.expiresAt");
		assertDateNear(session.data.session.createdAt, before, 60, "session.createdAt");
		assert.deepEqual(session.data.user, user, "get-session returns the same user");
		const gs = browser.last("/api/auth/get-session");
		assert.equal(gs.requestHeaders.cookie, `${COOKIE}=${signedCookieValue(data.token)}`);
		assert.match(gs.headers.get("cache-control") ?? "", /no-store/, "get-session is not cacheable");
		assert.deepEqual(gs.setCookie, [], "a fresh session is not refreshed, so no Set-Cookie");
	});

	it("get-session without any cookie is 200 with a null body", async () => {
		const { browser, client } = newBrowser();
		const { data, error } = await client.getSession();
		assert.equal(error, null);
		assert.equal(data, null);
		const ex = browser.last("/api/auth/get-session");
		assert.equal(ex.status, 200);
		assert.equal(ex.text, "null");
	});
});
