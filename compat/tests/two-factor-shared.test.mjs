// Two-factor on one database shared with a Node Better Auth that has the `twoFactor` plugin (the
// peer at COMPAT_PEER_URL; run by compat/run.sh in its shared-cookies phases): an enrolment made
// there verifies here, and one made here verifies there, TOTP and backup codes alike. This proves
// the secret and backup-code encryption, the TOTP key derivation and the schema are Better
// Auth's (docs/better-auth-plugins.md §Two-factor).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_URL, email, PASSWORD } from "./helpers.mjs";
import { authenticator, twoFactorBrowser } from "./two-factor-helpers.mjs";

const PEER_URL = (process.env.COMPAT_PEER_URL ?? "").replace(/\/+$/, "");
const skip = PEER_URL ? false : "COMPAT_PEER_URL is not set (compat/run.sh sets it in its shared-cookies phases)";

/** Signs up at `baseURL` and turns two-factor on there. */
async function enrolAt(baseURL) {
	const tab = twoFactorBrowser(baseURL);
	const address = email("shared-2fa");
	const signUp = await tab.client.signUp.email({ name: "Shared", email: address, password: PASSWORD });
	assert.equal(signUp.error, null, `sign-up at ${baseURL}: ${JSON.stringify(signUp.error)}`);
	const enabled = await tab.client.twoFactor.enable({ password: PASSWORD });
	assert.equal(enabled.error, null, `enable at ${baseURL}: ${JSON.stringify(enabled.error)}`);
	const app = authenticator(enabled.data.totpURI);
	const confirmed = await tab.client.twoFactor.verifyTotp({ code: app.code() });
	assert.equal(confirmed.error, null, `confirm at ${baseURL}: ${JSON.stringify(confirmed.error)}`);
	return { email: address, app, backupCodes: enabled.data.backupCodes };
}

/** Signs in at `baseURL`, expects the second step, completes it with `verify`; the session. */
async function signInWithSecondFactor(baseURL, address, verify) {
	const tab = twoFactorBrowser(baseURL);
	const signIn = await tab.client.signIn.email({ email: address, password: PASSWORD });
	assert.equal(signIn.error, null, `sign-in at ${baseURL}: ${JSON.stringify(signIn.error)}`);
	assert.equal(signIn.data.twoFactorRedirect, true, `a second step at ${baseURL}: ${JSON.stringify(signIn.data)}`);
	const verified = await verify(tab.client);
	assert.equal(verified.error, null, `second factor at ${baseURL}: ${JSON.stringify(verified.error)}`);
	const session = await tab.client.getSession();
	assert.equal(session.data?.user.email, address, `a session at ${baseURL}`);
	return session;
}

describe("two-factor on a database shared with a Node Better Auth", { skip }, () => {
	it("an enrolment made on Node Better Auth verifies here (TOTP and backup code)", async () => {
		const user = await enrolAt(PEER_URL);
		await signInWithSecondFactor(API_URL, user.email, (c) => c.twoFactor.verifyTotp({ code: user.app.code(1) }));
		await signInWithSecondFactor(API_URL, user.email, (c) => c.twoFactor.verifyBackupCode({ code: user.backupCodes[0] }));
	});

	it("the official client sees the same user object, twoFactorEnabled included, here as on Node Better Auth", async () => {
		const user = await enrolAt(PEER_URL);
		const plain = email("shared-2fa-off");
		const signUp = await twoFactorBrowser(API_URL).client.signUp.email({ name: "Off", email: plain, password: PASSWORD });
		assert.equal(signUp.error, null);
		assert.equal(signUp.data.user.twoFactorEnabled, false, "sign-up here answers twoFactorEnabled: false");
		const seen = {};
		for (const [where, baseURL] of [["node", PEER_URL], ["here", API_URL]]) {
			const on = await signInWithSecondFactor(baseURL, user.email, (c) => c.twoFactor.verifyBackupCode({ code: user.backupCodes[where === "node" ? 1 : 2] }));
			const off = twoFactorBrowser(baseURL);
			const signedIn = await off.client.signIn.email({ email: plain, password: PASSWORD });
			assert.equal(signedIn.error, null, `sign-in at ${baseURL}`);
			seen[where] = { on: on.data.user, off: (await off.client.getSession()).data.user, signIn: signedIn.data.user };
		}
		for (const what of ["on", "off", "signIn"]) {
			assert.deepEqual(Object.keys(seen.here[what]).sort(), Object.keys(seen.node[what]).sort(), `the ${what} user's fields`);
			assert.equal(seen.here[what].twoFactorEnabled, seen.node[what].twoFactorEnabled, `the ${what} user's twoFactorEnabled`);
		}
		assert.equal(seen.here.on.twoFactorEnabled, true);
		assert.equal(seen.here.off.twoFactorEnabled, false);
	});

	it("an enrolment made here verifies on Node Better Auth (TOTP and backup code)", async () => {
		const user = await enrolAt(API_URL);
		await signInWithSecondFactor(PEER_URL, user.email, (c) => c.twoFactor.verifyTotp({ code: user.app.code(1) }));
		await signInWithSecondFactor(PEER_URL, user.email, (c) => c.twoFactor.verifyBackupCode({ code: user.backupCodes[0] }));
		// A code Node Better Auth consumed is gone here too.
		const tab = twoFactorBrowser(API_URL);
		await tab.client.signIn.email({ email: user.email, password: PASSWORD });
		const reused = await tab.client.twoFactor.verifyBackupCode({ code: user.backupCodes[0] });
		assert.equal(reused.error?.code, "INVALID_BACKUP_CODE");
	});
});
