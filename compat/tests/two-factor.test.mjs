// Two-factor sign-in with the official client plugin, `twoFactorClient` from
// better-auth/client/plugins (issue 16; docs/better-auth-plugins.md §Two-factor): enable → an
// authenticator computes codes from the totpURI → sign out → sign in → twoFactorRedirect →
// verifyTotp → session; the backup-code path; trustDevice skipping the second step; disable.
// Codes are computed here with node:crypto from the URI, as any RFC 6238 authenticator does.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { email, PASSWORD, parseSetCookie, skipUnlessEndpoints, verifySignedCookieValue } from "./helpers.mjs";
import { authenticator, twoFactorBrowser } from "./two-factor-helpers.mjs";

const skip = await skipUnlessEndpoints("POST /api/auth/two-factor/enable");

/** Signs a fresh user up and turns two-factor on (the first code confirms it). */
async function enrolledUser(prefix) {
	const tab = twoFactorBrowser();
	const address = email(prefix);
	const signUp = await tab.client.signUp.email({ name: "Two Factor", email: address, password: PASSWORD });
	assert.equal(signUp.error, null, JSON.stringify(signUp.error));
	const enabled = await tab.client.twoFactor.enable({ password: PASSWORD });
	assert.equal(enabled.error, null, JSON.stringify(enabled.error));
	const app = authenticator(enabled.data.totpURI);
	const confirmed = await tab.client.twoFactor.verifyTotp({ code: app.code() });
	assert.equal(confirmed.error, null, JSON.stringify(confirmed.error));
	return { ...tab, email: address, app, backupCodes: enabled.data.backupCodes, confirmed: confirmed.data };
}

describe("two-factor sign-in with twoFactorClient", { skip }, () => {
	it("enable, scan, confirm, sign out, sign in, twoFactorRedirect, verifyTotp: a session", async () => {
		const user = await enrolledUser("totp");
		assert.match(user.browser.last("/two-factor/enable").text, /"totpURI":"otpauth:\/\/totp\//);
		assert.equal(user.backupCodes.length, 10);
		const session = await user.client.getSession();
		assert.equal(session.data.session.token, user.confirmed.token, "confirming answers the live session's token");
		await user.client.signOut();

		const tab = twoFactorBrowser();
		const signIn = await tab.client.signIn.email({ email: user.email, password: PASSWORD });
		assert.equal(signIn.error, null);
		assert.deepEqual(signIn.data, { twoFactorRedirect: true, twoFactorMethods: ["totp", "otp"] });
		assert.equal(tab.redirects.length, 1, "onTwoFactorRedirect was called");
		const lines = tab.browser.last("/sign-in/email").setCookie.map(parseSetCookie);
		const pending = lines.find((c) => c.name === "better-auth.two_factor");
		assert.match(verifySignedCookieValue(pending.value, "two_factor"), /^2fa-[A-Za-z0-9_-]{20}$/);
		assert.equal(pending.attrs["max-age"], "600");
		assert.equal((await tab.client.getSession()).data, null, "no session before the second factor");

		const verified = await tab.client.twoFactor.verifyTotp({ code: user.app.code(1) });
		assert.equal(verified.error, null, JSON.stringify(verified.error));
		assert.equal(verified.data.user.email, user.email);
		const after = await tab.client.getSession();
		assert.equal(after.data.user.email, user.email);
		assert.equal(after.data.session.token, verified.data.token);
		assert.equal(tab.browser.cookies.has("better-auth.two_factor"), false, "the pending cookie is cleared");
	});

	it("a backup code completes sign-in once", async () => {
		const user = await enrolledUser("backup");
		const first = twoFactorBrowser();
		await first.client.signIn.email({ email: user.email, password: PASSWORD });
		const ok = await first.client.twoFactor.verifyBackupCode({ code: user.backupCodes[0] });
		assert.equal(ok.error, null, JSON.stringify(ok.error));
		assert.equal((await first.client.getSession()).data.user.email, user.email);

		const second = twoFactorBrowser();
		await second.client.signIn.email({ email: user.email, password: PASSWORD });
		const again = await second.client.twoFactor.verifyBackupCode({ code: user.backupCodes[0] });
		assert.equal(again.error?.status, 401);
		assert.equal(again.error?.code, "INVALID_BACKUP_CODE");
	});

	it("trustDevice skips the second step on that browser only", async () => {
		const user = await enrolledUser("trust");
		const laptop = twoFactorBrowser();
		await laptop.client.signIn.email({ email: user.email, password: PASSWORD });
		const trusted = await laptop.client.twoFactor.verifyBackupCode({ code: user.backupCodes[1], trustDevice: true });
		assert.equal(trusted.error, null, JSON.stringify(trusted.error));
		assert.ok(laptop.browser.cookies.has("better-auth.trust_device"));
		await laptop.client.signOut();

		const again = await laptop.client.signIn.email({ email: user.email, password: PASSWORD });
		assert.equal(again.error, null);
		assert.equal(again.data.twoFactorRedirect, undefined, "no second step on the trusted browser");
		assert.equal((await laptop.client.getSession()).data.user.email, user.email);

		const other = twoFactorBrowser();
		const challenged = await other.client.signIn.email({ email: user.email, password: PASSWORD });
		assert.equal(challenged.data.twoFactorRedirect, true);
	});

	it("disable: sign-in is one step again", async () => {
		const user = await enrolledUser("disable");
		const off = await user.client.twoFactor.disable({ password: PASSWORD });
		assert.equal(off.error, null, JSON.stringify(off.error));
		assert.deepEqual(off.data, { status: true });
		assert.equal((await user.client.getSession()).data.user.email, user.email, "the caller keeps a session");
		const tab = twoFactorBrowser();
		const signIn = await tab.client.signIn.email({ email: user.email, password: PASSWORD });
		assert.equal(signIn.error, null);
		assert.equal(typeof signIn.data.token, "string");
	});

	it("a wrong code and a missing pending sign-in get the plugin's error codes", async () => {
		const user = await enrolledUser("errors");
		const tab = twoFactorBrowser();
		const none = await tab.client.twoFactor.verifyTotp({ code: "123456" });
		assert.equal(none.error?.status, 401);
		assert.equal(none.error?.code, "INVALID_TWO_FACTOR_COOKIE");
		await tab.client.signIn.email({ email: user.email, password: PASSWORD });
		const wrong = await tab.client.twoFactor.verifyTotp({ code: user.app.code(1) === "000000" ? "111111" : "000000" });
		assert.equal(wrong.error?.status, 401);
		assert.equal(wrong.error?.code, "INVALID_CODE");
	});
});
