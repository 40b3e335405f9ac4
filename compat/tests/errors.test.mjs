// Error responses as the official client surfaces them ({code, message, status})
// and as they are on the wire (`docs/better-auth-wire.md` §2.3).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { assertClientError, email, newBrowser, PASSWORD, signedUpUser } from "./helpers.mjs";

describe("sign-up and sign-in errors", () => {
	let account;
	before(async () => {
		account = await signedUpUser({ prefix: "errors" });
	});

	it("duplicate sign-up is 422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL and sets no cookie", async () => {
		const { browser, client } = newBrowser();
		const result = await client.signUp.email({ name: "Again", email: account.email.toUpperCase(), password: PASSWORD });
		assertClientError(result, {
			status: 422,
			code: "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
			message: "User already exists. Use another email.",
		});
		const ex = browser.last("/api/auth/sign-up/email");
		assert.deepEqual(JSON.parse(ex.text), {
			message: "User already exists. Use another email.",
			code: "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
		});
		assert.deepEqual(ex.setCookie, []);
	});

	it("wrong password and unknown e-mail give the same 401 INVALID_EMAIL_OR_PASSWORD", async () => {
		const { browser, client } = newBrowser();
		const wrong = await client.signIn.email({ email: account.email, password: "not the password" });
		const wrongWire = browser.last("/api/auth/sign-in/email");
		const unknown = await client.signIn.email({ email: email("nobody"), password: PASSWORD });
		const unknownWire = browser.last("/api/auth/sign-in/email");

		const expected = { status: 401, code: "INVALID_EMAIL_OR_PASSWORD", message: "Invalid email or password" };
		assertClientError(wrong, expected);
		assertClientError(unknown, expected);
		assert.equal(wrong.error.message, unknown.error.message, "no user enumeration through the message");
		assert.equal(wrongWire.text, unknownWire.text, "identical bodies");
		assert.deepEqual(JSON.parse(wrongWire.text), { message: "Invalid email or password", code: "INVALID_EMAIL_OR_PASSWORD" });
		assert.deepEqual(wrongWire.setCookie, []);
		assert.deepEqual(unknownWire.setCookie, []);
		assert.equal(browser.cookies.size, 0);
	});

	it("a password shorter than 8 characters is 400 PASSWORD_TOO_SHORT", async () => {
		const { client } = newBrowser();
		const result = await client.signUp.email({ name: "Short", email: email("short"), password: "1234567" });
		assertClientError(result, { status: 400, code: "PASSWORD_TOO_SHORT", message: "Password too short" });
	});

	it("a password longer than 128 characters is 400 PASSWORD_TOO_LONG", async () => {
		const { client } = newBrowser();
		const result = await client.signUp.email({ name: "Long", email: email("long"), password: "x".repeat(129) });
		assertClientError(result, { status: 400, code: "PASSWORD_TOO_LONG", message: "Password too long" });
	});

	it("an invalid e-mail on sign-up is 400 VALIDATION_ERROR naming body.email", async () => {
		const { browser, client } = newBrowser();
		const result = await client.signUp.email({ name: "Bad", email: "not-an-email", password: PASSWORD });
		assertClientError(result, { status: 400, code: "VALIDATION_ERROR", message: "[body.email] Invalid email address" });
		assert.deepEqual(JSON.parse(browser.last("/api/auth/sign-up/email").text), {
			message: "[body.email] Invalid email address",
			code: "VALIDATION_ERROR",
		});
	});

	it("an invalid e-mail on sign-in is 400 INVALID_EMAIL", async () => {
		const { client } = newBrowser();
		const result = await client.signIn.email({ email: "not-an-email", password: PASSWORD });
		assertClientError(result, { status: 400, code: "INVALID_EMAIL", message: "Invalid email" });
	});
});
