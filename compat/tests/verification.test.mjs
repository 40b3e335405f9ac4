// Email verification and change, and revoke-sessions (issue 8), through the official
// client: sendVerificationEmail → mailed link → verifyEmail({query:{token}}), changeEmail →
// link to the new address → verifyEmail, revokeSessions. Links are read from the
// MAIL_OUTBOX the runner configures. Each test is skipped, with a message, only while its
// endpoint answers 404 NOT_FOUND (or no outbox is configured).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import {
	AUTH_SECRET,
	assertClientError,
	CLEARING_LINES,
	email,
	getSessionWithCookieHeader,
	newBrowser,
	PASSWORD,
	readOutbox,
	SERVER,
	signedInBrowser,
	signedUpUser,
	skipUnlessEndpoints,
	TRUSTED_ORIGIN,
	waitForMail,
} from "./helpers.mjs";

const P = "/api/auth";
const noOutbox = process.env.MAIL_OUTBOX ? false : "MAIL_OUTBOX is not set";
const gates = {
	verify: (await skipUnlessEndpoints(`POST ${P}/send-verification-email`, `GET ${P}/verify-email`)) || noOutbox,
	change: (await skipUnlessEndpoints(`POST ${P}/change-email`, `GET ${P}/verify-email`)) || noOutbox,
	revokeAll: await skipUnlessEndpoints(`POST ${P}/revoke-sessions`),
};

/** The token of a mailed verification link (`…/verify-email?token=<jwt>&callbackURL=…`). */
function tokenOf(mail) {
	const url = new URL(mail.url);
	assert.equal(url.pathname, `${P}/verify-email`, `a verification link: ${mail.url}`);
	const token = url.searchParams.get("token");
	assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, "the token is a compact JWT");
	return token;
}

const isVerificationLink = (m) => typeof m.url === "string" && m.url.includes(`${P}/verify-email?`);

/** An HS256 JWT with header {"alg":"HS256"}, signed with `secret` (Better Auth's verification token, §3.6). */
function signJwt(payload, secret = AUTH_SECRET) {
	const b64 = (text) => Buffer.from(text, "utf8").toString("base64url");
	const input = `${b64(JSON.stringify({ alg: "HS256" }))}.${b64(JSON.stringify(payload))}`;
	return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

const nowS = () => Math.floor(Date.now() / 1000);

describe("email verification", () => {
	it("sendVerificationEmail mails a link; verifyEmail({query:{token}}) verifies; reopening is harmless", { skip: gates.verify }, async () => {
		const a = await signedUpUser({ prefix: "verify" });
		assert.equal(a.user.emailVerified, false);

		const sent = await a.client.sendVerificationEmail({ email: a.email, callbackURL: `${TRUSTED_ORIGIN}/verified` });
		assert.equal(sent.error, null, JSON.stringify(sent.error));
		assert.deepEqual(sent.data, { status: true });
		const mail = await waitForMail(a.email, isVerificationLink);
		const link = new URL(mail.url);
		assert.equal(link.searchParams.get("callbackURL"), `${TRUSTED_ORIGIN}/verified`);
		const token = tokenOf(mail);
		const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
		assert.equal(payload.email, a.email);
		assert.ok(payload.exp > nowS(), "the link is still valid");

		// The mailed link itself redirects to its callback.
		const opened = await fetch(mail.url, { redirect: "manual" });
		assert.equal(opened.status, 302);
		assert.equal(opened.headers.get("location"), `${TRUSTED_ORIGIN}/verified`);

		const { data, error } = await a.client.verifyEmail({ query: { token } });
		assert.equal(error, null, JSON.stringify(error));
		assert.deepEqual(data, { status: true, user: null }, "reused links are an idempotent 200");
		const wire = a.browser.last(`${P}/verify-email`);
		assert.equal(wire.method, "GET");

		const session = await a.client.getSession();
		assert.equal(session.data.user.emailVerified, true, "emailVerified flipped");

		const again = await a.client.sendVerificationEmail({ email: a.email });
		assertClientError(again, { status: 400, code: "EMAIL_ALREADY_VERIFIED", message: "Email is already verified" });
	});

	it("verifyEmail with a fresh signature over the claims verifies (the token is HS256 under the secret)", { skip: gates.verify }, async () => {
		const a = await signedUpUser({ prefix: "verify-own" });
		const token = signJwt({ email: a.email, userId: a.user.id, iat: nowS(), exp: nowS() + 600 });
		const { data, error } = await newBrowser().client.verifyEmail({ query: { token } });
		assert.equal(error, null, JSON.stringify(error));
		assert.deepEqual(data, { status: true, user: null });
		assert.equal((await a.client.getSession()).data.user.emailVerified, true);
	});

	it("an expired link is 401 TOKEN_EXPIRED; with a callbackURL a 302 to ?error=TOKEN_EXPIRED", { skip: gates.verify }, async () => {
		const a = await signedUpUser({ prefix: "verify-expired" });
		const token = signJwt({ email: a.email, userId: a.user.id, iat: nowS() - 3660, exp: nowS() - 60 });

		const result = await newBrowser().client.verifyEmail({ query: { token } });
		assertClientError(result, { status: 401, code: "TOKEN_EXPIRED", message: "Token expired" });
		const redirected = await fetch(`${process.env.API_URL}${P}/verify-email?token=${token}&callbackURL=${encodeURIComponent(`${TRUSTED_ORIGIN}/v`)}`, {
			redirect: "manual",
		});
		assert.equal(redirected.status, 302);
		assert.equal(redirected.headers.get("location"), `${TRUSTED_ORIGIN}/v?error=TOKEN_EXPIRED`);
		assert.equal((await a.client.getSession()).data.user.emailVerified, false);
	});

	it("forged links are 401 INVALID_TOKEN and verify nothing", { skip: gates.verify }, async () => {
		const a = await signedUpUser({ prefix: "verify-forged" });
		const claims = { email: a.email, userId: a.user.id, iat: nowS(), exp: nowS() + 600 };
		const genuine = signJwt(claims);
		const [head, body, sig] = genuine.split(".");
		const flippedSig = `${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
		const cases = [
			[signJwt(claims, "another-secret-0123456789abcdefghijklmnop"), "another secret"],
			[`${head}.${body}.${flippedSig}`, "one signature character changed"],
			["not.a.jwt", "garbage"],
		];
		for (const [token, what] of cases) {
			const result = await newBrowser().client.verifyEmail({ query: { token } });
			assertClientError(result, { status: 401, code: "INVALID_TOKEN", message: "Invalid token" });
			assert.equal((await a.client.getSession()).data.user.emailVerified, false, what);
		}
	});

	it("sendVerificationEmail for another address than the session's is 400 EMAIL_MISMATCH", { skip: gates.verify }, async () => {
		const a = await signedUpUser({ prefix: "verify-mismatch" });
		const other = email("verify-other");
		const result = await a.client.sendVerificationEmail({ email: other });
		assertClientError(result, { status: 400, code: "EMAIL_MISMATCH", message: "Email mismatch" });
		assert.equal(readOutbox().filter((m) => m.to === other).length, 0);
	});
});

describe("change email", () => {
	it("changeEmail mails the new address; its link changes the address; sign-in moves with it", { skip: gates.change }, async () => {
		const a = await signedUpUser({ prefix: "change-email" });
		const newEmail = email("changed");

		// The current password: this service needs it (or a fresh session); Better Auth ignores
		// the extra field (docs/better-auth-wire.md §12).
		const { data, error } = await a.client.changeEmail({ newEmail, password: PASSWORD });
		assert.equal(error, null, JSON.stringify(error));
		assert.deepEqual(data, { status: true });
		const mail = await waitForMail(newEmail, isVerificationLink);
		if (SERVER === "rust") {
			// The old address is told, with a reset link that stops the change.
			const notice = await waitForMail(a.email, (m) => m.subject === "Your email address is being changed");
			assert.ok(notice.text.includes(newEmail), notice.text);
			assert.ok(notice.url.includes(`${P}/reset-password/`), notice.url);
		} else {
			assert.equal(readOutbox().filter((m) => m.to === a.email).length, 0, "nothing is mailed to the old address");
		}
		assert.equal((await a.client.getSession()).data.user.email, a.email, "the address changes only on the link");

		const opened = await a.client.verifyEmail({ query: { token: tokenOf(mail) } });
		assert.equal(opened.error, null, JSON.stringify(opened.error));
		assert.equal(opened.data.status, true);
		assert.equal(opened.data.user.id, a.user.id);
		assert.equal(opened.data.user.email, newEmail);
		assert.equal(opened.data.user.emailVerified, false, "emailVerified keeps its previous value");

		const session = await a.client.getSession();
		assert.equal(session.data.user.email, newEmail);
		await signedInBrowser(newEmail, PASSWORD);
		assertClientError(await newBrowser().client.signIn.email({ email: a.email, password: PASSWORD }), {
			status: 401,
			code: "INVALID_EMAIL_OR_PASSWORD",
		});

		// The link is spent: the user's address is no longer the one it was issued for.
		const again = await newBrowser().client.verifyEmail({ query: { token: tokenOf(mail) } });
		assertClientError(again, { status: 401, code: "INVALID_TOKEN" });
	});

	it("an old change-email link cannot move the address of its next owner (links are bound to userId)", { skip: gates.change }, async () => {
		// Ann is mailed a link to move to `first`, moves to `second` instead; Bob then signs up
		// with Ann's old address. Ann's stale link must not touch Bob's account.
		const ann = await signedUpUser({ prefix: "stale-link" });
		const [first, second] = [email("stale-first"), email("stale-second")];
		await ann.client.changeEmail({ newEmail: first, password: PASSWORD });
		const stale = tokenOf(await waitForMail(first, isVerificationLink));
		await ann.client.changeEmail({ newEmail: second, password: PASSWORD });
		const used = await ann.client.verifyEmail({ query: { token: tokenOf(await waitForMail(second, isVerificationLink)) } });
		assert.equal(used.error, null, JSON.stringify(used.error));
		const { client: bobClient } = newBrowser();
		const bob = await bobClient.signUp.email({ name: "Bob", email: ann.email, password: PASSWORD });
		assert.equal(bob.error, null, JSON.stringify(bob.error));

		const result = await newBrowser().client.verifyEmail({ query: { token: stale } });

		assertClientError(result, { status: 401, code: "INVALID_TOKEN" });
		assert.equal((await bobClient.getSession()).data.user.email, ann.email, "Bob keeps his address");
		assert.equal((await ann.client.getSession()).data.user.email, second);
	});

	it("changeEmail to an address already in use answers {status:true} and mails nothing", { skip: gates.change }, async () => {
		const a = await signedUpUser({ prefix: "change-taken" });
		const b = await signedUpUser({ prefix: "change-owner" });

		const taken = await a.client.changeEmail({ newEmail: b.email, password: PASSWORD });
		assert.equal(taken.error, null);
		assert.deepEqual(taken.data, { status: true });

		// A later change to a free address is mailed; by then nothing went to the taken one.
		const free = email("change-free");
		assert.deepEqual((await a.client.changeEmail({ newEmail: free, password: PASSWORD })).data, { status: true });
		await waitForMail(free, isVerificationLink);
		assert.equal(readOutbox().filter((m) => m.to === b.email).length, 0);
		assert.equal((await b.client.getSession()).data.user.email, b.email);
	});

	it("changeEmail to the same address is 400 'Email is the same' without a code", { skip: gates.change }, async () => {
		const a = await signedUpUser({ prefix: "change-same" });
		const result = await a.client.changeEmail({ newEmail: a.email, password: PASSWORD });
		assert.equal(result.data, null);
		assert.equal(result.error.status, 400);
		assert.equal(result.error.message, "Email is the same");
		assert.equal(result.error.code, undefined);
	});
});

describe("revoke all sessions", () => {
	it("revokeSessions ends every session of the user and clears the cookies", { skip: gates.revokeAll }, async () => {
		const a = await signedUpUser({ prefix: "revoke-all" });
		const b = await signedInBrowser(a.email);
		const other = await signedUpUser({ prefix: "revoke-bystander" });
		const oldCookie = a.browser.cookieHeader();

		const { data, error } = await a.client.revokeSessions();
		assert.equal(error, null, JSON.stringify(error));
		assert.deepEqual(data, { status: true });
		const wire = a.browser.last(`${P}/revoke-sessions`);
		assert.equal(wire.method, "POST");
		assert.equal(wire.requestBody, "{}");
		assert.deepEqual([...wire.setCookie].sort(), [...CLEARING_LINES].sort());

		assert.equal((await a.client.getSession()).data, null);
		assert.equal((await b.client.getSession()).data, null, "the other browser is signed out");
		assert.equal(await getSessionWithCookieHeader(oldCookie), null, "the old cookie is dead");
		assert.notEqual((await other.client.getSession()).data, null, "other users are untouched");
	});
});
