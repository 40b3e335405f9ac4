// CSRF defence: a cookie-carrying POST needs a trusted Origin (`docs/better-auth-wire.md` §7.1).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertClientError, AUTH, Browser, clientFor, signedUpUser } from "./helpers.mjs";

describe("origin check", () => {
	it("a cookie-carrying sign-out from an untrusted origin is 403 INVALID_ORIGIN and changes nothing", async () => {
		const account = await signedUpUser({ prefix: "origin" });
		const evil = new Browser({ origin: "http://evil.example" });
		evil.setCookieHeader(account.browser.cookieHeader());

		const result = await clientFor(evil).signOut();

		assertClientError(result, { status: 403, code: "INVALID_ORIGIN", message: "Invalid origin" });
		const ex = evil.last("/api/auth/sign-out");
		assert.equal(ex.requestHeaders.origin, "http://evil.example");
		assert.deepEqual(JSON.parse(ex.text), { message: "Invalid origin", code: "INVALID_ORIGIN" });
		assert.deepEqual(ex.setCookie, [], "no cookie is cleared");

		const { data } = await account.client.getSession();
		assert.notEqual(data, null, "the session still works");
		assert.equal(data.session.token, account.token);
	});

	it("a cookie-carrying POST without Origin or Referer is 403 MISSING_OR_NULL_ORIGIN", async () => {
		const account = await signedUpUser({ prefix: "no-origin" });
		const res = await fetch(`${AUTH}/sign-out`, {
			method: "POST",
			headers: { cookie: account.browser.cookieHeader(), "content-type": "application/json" },
			body: "{}",
		});
		assert.equal(res.status, 403);
		assert.deepEqual(await res.json(), { message: "Missing or null Origin", code: "MISSING_OR_NULL_ORIGIN" });
		assert.notEqual((await account.client.getSession()).data, null, "the session still works");
	});
});
