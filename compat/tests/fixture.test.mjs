// Adoption of a database written by REAL Better Auth (fixture/make-betterauth-db.mjs):
// the server was started on a copy of it (SESSION_TOKEN_STORAGE=plain) and must
// serve its users and sessions unchanged. Runs only when COMPAT_FIXTURE names
// the fixture's JSON (run.sh does that in its "fixture" phase).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { databaseAvailable, queryOne } from "./db.mjs";
import {
	assertClientError,
	Browser,
	COOKIE,
	clientFor,
	getSessionWithCookieHeader,
	newBrowser,
	signedCookieValue,
	TOKEN_STORAGE,
} from "./helpers.mjs";

const fixturePath = process.env.COMPAT_FIXTURE;
const fixture = fixturePath ? JSON.parse(readFileSync(fixturePath, "utf8")) : undefined;
const skip = fixture ? false : "COMPAT_FIXTURE is not set (run.sh sets it in the fixture phase)";

describe("a database written by Better Auth 1.7.25", { skip }, () => {
	it("was issued a standard Better Auth cookie (sanity check of the fixture)", () => {
		assert.deepEqual(fixture.setCookie, [
			`${COOKIE}=${signedCookieValue(fixture.token)}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax`,
		]);
	});

	it("the session cookie Better Auth issued authenticates get-session here", async () => {
		const browser = new Browser();
		browser.setCookieHeader(fixture.cookieHeader);
		const { data, error } = await clientFor(browser).getSession();
		assert.equal(error, null);
		assert.notEqual(data, null, "the Better Auth session must be found");
		assert.equal(data.user.id, fixture.userId);
		assert.equal(data.user.email, fixture.email);
		assert.equal(data.user.name, fixture.name);
		assert.equal(data.user.emailVerified, false);
		assert.equal(data.session.token, fixture.token);
		assert.ok(data.session.expiresAt instanceof Date && data.session.expiresAt > new Date());
	});

	it("Better Auth's set-auth-token works as a bearer token here", async () => {
		const browser = new Browser({ cookies: false, origin: null });
		const { data } = await clientFor(browser, { auth: { type: "Bearer", token: fixture.setAuthToken } }).getSession();
		assert.equal(data?.session.token, fixture.token);
	});

	it("the Better Auth user signs in here with their password (Better Auth's scrypt hash)", async () => {
		const { browser, client } = newBrowser();
		const { data, error } = await client.signIn.email({ email: fixture.email, password: fixture.password });
		assert.equal(error, null);
		assert.equal(data.user.id, fixture.userId);
		assert.match(data.token, /^[A-Za-z0-9]{32}$/);
		assert.equal((await client.getSession()).data.session.token, data.token);
		assert.deepEqual(browser.last("/api/auth/sign-in/email").setCookie, [
			`${COOKIE}=${signedCookieValue(data.token)}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax`,
		]);
		if (databaseAvailable() && TOKEN_STORAGE === "plain") {
			const row = await queryOne(`SELECT "token" FROM "session" WHERE "userId" = ? AND "token" = ?`, [fixture.userId, data.token]);
			assert.ok(row, "with SESSION_TOKEN_STORAGE=plain the new session's token is stored raw, as Better Auth stores it");
		}
	});

	it("a wrong password for the Better Auth user is 401 INVALID_EMAIL_OR_PASSWORD", async () => {
		const { client } = newBrowser();
		assertClientError(await client.signIn.email({ email: fixture.email, password: "not the fixture password" }), {
			status: 401,
			code: "INVALID_EMAIL_OR_PASSWORD",
			message: "Invalid email or password",
		});
	});

	it("signing out the Better Auth session deletes its row", async () => {
		const browser = new Browser();
		browser.setCookieHeader(fixture.cookieHeader);
		const { data, error } = await clientFor(browser).signOut();
		assert.equal(error, null);
		assert.deepEqual(data, { success: true });
		assert.equal(await getSessionWithCookieHeader(fixture.cookieHeader), null);
		if (databaseAvailable()) {
			assert.equal(await queryOne(`SELECT "id" FROM "session" WHERE "token" = ?`, [fixture.token]), undefined);
		}
	});
});
