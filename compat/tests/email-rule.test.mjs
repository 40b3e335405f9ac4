// Which e-mail addresses are valid (docs/better-auth-wire.md §7.5): Better Auth checks them
// with zod's `z.email()`. The server must accept and refuse exactly the same addresses, and
// its OpenAPI spec declares that rule as the `pattern` of every e-mail field (`format: email`,
// RFC 5322, admits addresses such as `d^0=h1{rvw@arn.example.io` that Better Auth refuses).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as z from "zod";
import { regexes } from "zod/v4/core";
import { API_URL, assertClientError, newBrowser, PASSWORD, SERVER } from "./helpers.mjs";

/** Addresses on both sides of the rule; which side each is on is zod's call, not ours. */
const CORPUS = [
	"ada@example.com",
	"Ada.Lovelace+tag@Example.COM",
	"o'neil@sub.example.io",
	"-a@b.co",
	"a@b-.co",
	`${"a".repeat(80)}@example.com`,
	"d^0=h1{rvw@arn.example.io",
	"a!b@c.co",
	"a%b@c.co",
	"a~b@c.co",
	'"quoted"@example.com',
	"a@[127.0.0.1]",
	"a'@b.co",
	"a..b@c.co",
	"a@b.c",
	"a@b.c0m",
	"ü@example.com",
	"a@b.co ",
	"a@b.co\n",
];

describe("the e-mail rule is Better Auth's", () => {
	it("the corpus has addresses on both sides of the rule", () => {
		const accepted = CORPUS.filter((address) => z.email().safeParse(address).success);
		assert.ok(accepted.length >= 5 && accepted.length <= CORPUS.length - 5, `${accepted.length} of ${CORPUS.length} accepted`);
	});

	it("sign-in answers INVALID_EMAIL exactly for the addresses zod refuses", async () => {
		for (const address of CORPUS) {
			const { client } = newBrowser();
			const result = await client.signIn.email({ email: address, password: PASSWORD });
			if (z.email().safeParse(address).success) {
				assertClientError(result, { status: 401, code: "INVALID_EMAIL_OR_PASSWORD" });
			} else {
				assertClientError(result, { status: 400, code: "INVALID_EMAIL", message: "Invalid email" });
			}
		}
	});

	it("the spec declares zod's e-mail pattern on every e-mail input", { skip: SERVER === "betterauth" && "Better Auth serves no OpenAPI document here" }, async () => {
		const spec = await (await fetch(`${API_URL}/openapi.json`)).json();
		const inputs = [
			["SignUpRequest", "email"],
			["SignInRequest", "email"],
			["RequestPasswordResetRequest", "email"],
			["SendVerificationEmailRequest", "email"],
			["ChangeEmailRequest", "newEmail"],
		];
		for (const [schema, property] of inputs) {
			const field = spec.components.schemas[schema].properties[property];
			assert.equal(field.pattern, regexes.email.source, `${schema}.${property}: the pattern is zod's`);
			assert.equal(field.format, undefined, `${schema}.${property}: no format: email`);
		}
		const declared = new RegExp(spec.components.schemas.SignUpRequest.properties.email.pattern);
		for (const address of CORPUS) {
			assert.equal(declared.test(address), z.email().safeParse(address).success, JSON.stringify(address));
		}
	});
});
