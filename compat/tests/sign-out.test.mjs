// Sign-out: body, the three clearing cookies, and the session is gone at once (`docs/better-auth-wire.md` §3.3).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLEARING_LINES, getSessionWithCookieHeader, signedUpUser } from "./helpers.mjs";

describe("sign-out (POST /sign-out)", () => {
	it("clears the cookies, ends the session, and the old cookie no longer works", async () => {
		const { browser, client } = await signedUpUser({ prefix: "sign-out" });
		const oldCookieHeader = browser.cookieHeader();
		assert.notEqual((await client.getSession()).data, null, "signed in before sign-out");

		const { data, error } = await client.signOut();

		assert.equal(error, null);
		assert.deepEqual(data, { success: true });
		const ex = browser.last("/api/auth/sign-out");
		assert.equal(ex.status, 200);
		assert.equal(ex.requestBody, "{}", "the client posts {} for a body-less POST");
		assert.deepEqual([...ex.setCookie].sort(), [...CLEARING_LINES].sort());
		assert.equal(browser.cookies.size, 0, "the jar is empty after the clearing lines");
		assert.equal(ex.headers.get("set-auth-token"), null, "no set-auth-token on a cleared cookie");

		const after = await client.getSession();
		assert.equal(after.error, null);
		assert.equal(after.data, null);

		assert.equal(await getSessionWithCookieHeader(oldCookieHeader), null, "replaying the old cookie gives null");
	});

	it("without a session still answers {success:true}", async () => {
		const { browser, client } = await signedUpUser({ prefix: "sign-out-twice" });
		await client.signOut();
		const { data, error } = await client.signOut();
		assert.equal(error, null);
		assert.deepEqual(data, { success: true });
		assert.equal(browser.last("/api/auth/sign-out").status, 200);
	});
});
