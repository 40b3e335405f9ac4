// Sign-in through the official client, with and without remember-me (`docs/better-auth-wire.md` §3.2, §4.4).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
	assertDateNear,
	assertToken,
	COOKIE,
	DONT_REMEMBER_COOKIE,
	newBrowser,
	ONE_DAY_S,
	SEVEN_DAYS_S,
	signature,
	signedCookieValue,
	signedUpUser,
} from "./helpers.mjs";

describe("sign-in (POST /sign-in/email)", () => {
	let account;
	before(async () => {
		account = await signedUpUser({ prefix: "sign-in" });
	});

	it("remembers by default: 7-day session and a Max-Age=604800 cookie", async () => {
		const { browser, client } = newBrowser();
		const t0 = Date.now();
		const { data, error } = await client.signIn.email({ email: account.email, password: account.password });

		assert.equal(error, null);
		assert.equal(data.redirect, false);
		assert.ok(!("url" in data), "no url key without callbackURL");
		assertToken(data.token);
		assert.notEqual(data.token, account.token, "every sign-in is a new session");
		assert.equal(data.user.id, account.user.id);
		assert.equal(data.user.email, account.email);
		assert.ok(data.user.createdAt instanceof Date);

		const ex = browser.last("/api/auth/sign-in/email");
		assert.equal(ex.status, 200);
		assert.deepEqual(ex.setCookie, [`${COOKIE}=${signedCookieValue(data.token)}; Max-Age=${SEVEN_DAYS_S}; Path=/; HttpOnly; SameSite=Lax`]);
		assert.equal(ex.headers.get("set-auth-token"), `${data.token}.${signature(data.token)}`);
		assert.match(ex.headers.get("access-control-expose-headers") ?? "", /(^|,\s*)set-auth-token(\s*,|$)/i);

		const session = await client.getSession();
		assert.equal(session.data.session.token, data.token);
		assertDateNear(session.data.session.expiresAt, t0 + SEVEN_DAYS_S * 1000, 60, "expiresAt (remember me)");
	});

	it("rememberMe:false gives a browser-session cookie, a signed dont_remember flag and a 1-day session", async () => {
		const { browser, client } = newBrowser();
		const t0 = Date.now();
		const { data, error } = await client.signIn.email({ email: account.email, password: account.password, rememberMe: false });

		assert.equal(error, null);
		assertToken(data.token);
		const ex = browser.last("/api/auth/sign-in/email");
		assert.equal(ex.status, 200);
		assert.deepEqual(
			[...ex.setCookie].sort(),
			[
				`${COOKIE}=${signedCookieValue(data.token)}; Path=/; HttpOnly; SameSite=Lax`,
				`${DONT_REMEMBER_COOKIE}=${signedCookieValue("true")}; Path=/; HttpOnly; SameSite=Lax`,
			].sort(),
			"session cookie without Max-Age plus the signed dont_remember=true cookie",
		);
		assert.equal(ex.headers.get("set-auth-token"), `${data.token}.${signature(data.token)}`);

		const session = await client.getSession();
		assert.equal(session.error, null);
		assert.equal(session.data.session.token, data.token);
		assertDateNear(session.data.session.expiresAt, t0 + ONE_DAY_S * 1000, 60, "expiresAt (remember me off)");
		const gs = browser.last("/api/auth/get-session");
		assert.match(gs.requestHeaders.cookie, new RegExp(`${DONT_REMEMBER_COOKIE.replace(".", "\\.")}=`));
		assert.deepEqual(gs.setCookie, [], "a dont_remember session is never refreshed");
	});
});
