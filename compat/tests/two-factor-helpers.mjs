// Two-factor helpers for the compat tests: an authenticator app computing RFC 6238 codes from a
// `totpURI` with node:crypto (independently of Better Auth), and a browser tab whose official
// client has the `twoFactorClient` plugin.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { twoFactorClient } from "better-auth/client/plugins";
import { API_URL, Browser } from "./helpers.mjs";

/** RFC 4648 base32 without padding → bytes. */
function base32Decode(text) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	let bits = 0;
	let value = 0;
	const out = [];
	for (const c of text.replace(/=+$/, "").toUpperCase()) {
		const i = alphabet.indexOf(c);
		if (i < 0) throw new Error(`not base32: ${c}`);
		value = (value << 5) | i;
		bits += 5;
		if (bits >= 8) {
			out.push((value >>> (bits - 8)) & 0xff);
			bits -= 8;
		}
	}
	return Buffer.from(out);
}

/** An authenticator app that scanned `uri`: `code(offset)` is the code `offset` steps from now. */
export function authenticator(uri) {
	const url = new URL(uri);
	assert.equal(url.protocol, "otpauth:");
	assert.equal(url.searchParams.get("digits"), "6");
	assert.equal(url.searchParams.get("period"), "30");
	const key = base32Decode(url.searchParams.get("secret"));
	return {
		code(offset = 0) {
			const counter = Buffer.alloc(8);
			counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
			const digest = createHmac("sha1", key).update(counter).digest();
			const at = digest[19] & 0x0f;
			return String((digest.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
		},
	};
}

/** A browser tab with the official client and its two-factor plugin; records redirects. */
export function twoFactorBrowser(baseURL = API_URL, browser = new Browser()) {
	const redirects = [];
	const client = createAuthClient({
		baseURL,
		fetchOptions: { customFetchImpl: browser.fetch },
		plugins: [twoFactorClient({ onTwoFactorRedirect: (ctx) => redirects.push(ctx) })],
	});
	return { browser, client, redirects };
}

