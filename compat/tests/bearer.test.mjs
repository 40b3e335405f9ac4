// The bearer() plugin: a client without a cookie jar authenticates with the
// set-auth-token value or the raw token (`docs/better-auth-wire.md` §9).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Browser, clientFor, getSessionWithCookieHeader, signature, signedInBrowser, signedUpUser } from "./helpers.mjs";

/** A client like a mobile app: no cookie jar, no Origin, an Authorization header. */
function bearerClient(token) {
	const browser = new Browser({ cookies: false, origin: null });
	return { browser, client: clientFor(browser, { auth: { type: "Bearer", token } }) };
}

describe("bearer tokens", () => {
	it("set-auth-token from sign-in authenticates a cookie-less client; the raw token does too", async () => {
		const account = await signedUpUser({ prefix: "bearer" });
		const signIn = await signedInBrowser(account.email);
		const setAuthToken = signIn.browser.last("/api/auth/sign-in/email").headers.get("set-auth-token");
		assert.equal(setAuthToken, `${signIn.token}.${signature(signIn.token)}`);

		for (const [label, token] of [
			["set-auth-token value", setAuthToken],
			["raw 32-char token", signIn.token],
			["percent-encoded signed value", encodeURIComponent(setAuthToken)],
		]) {
			const { browser, client } = bearerClient(token);
			const { data, error } = await client.getSession();
			assert.equal(error, null, label);
			assert.notEqual(data, null, `${label}: get-session must find the session`);
			assert.equal(data.session.token, signIn.token, `${label}: session.token`);
			assert.equal(data.user.id, account.user.id, `${label}: user.id`);
			const ex = browser.last("/api/auth/get-session");
			assert.equal(ex.requestHeaders.authorization, `Bearer ${token}`, `${label}: sent as a bearer header`);
			assert.equal(ex.requestHeaders.cookie, undefined, `${label}: no cookie sent`);
		}
	});

	it("a tampered signature is ignored: get-session is null", async () => {
		const account = await signedUpUser({ prefix: "bearer-tamper" });
		const sig = signature(account.token);
		const flipped = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
		const { client } = bearerClient(`${account.token}.${flipped}`);
		const { data, error } = await client.getSession();
		assert.equal(error, null);
		assert.equal(data, null);
	});

	it("sign-out with only a bearer header deletes that session (no Origin needed without cookies)", async () => {
		const account = await signedUpUser({ prefix: "bearer-out" });
		const cookieHeader = account.browser.cookieHeader();
		const setAuthToken = account.browser.last("/api/auth/sign-up/email").headers.get("set-auth-token");
		const { browser, client } = bearerClient(setAuthToken);

		const { data, error } = await client.signOut();
		assert.equal(error, null);
		assert.deepEqual(data, { success: true });
		assert.equal(browser.last("/api/auth/sign-out").status, 200);

		assert.equal((await client.getSession()).data, null, "the bearer token is dead");
		assert.equal(await getSessionWithCookieHeader(cookieHeader), null, "the browser cookie of that session is dead too");
	});
});
