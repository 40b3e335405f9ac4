// One PostgreSQL database, two servers with rate limiting on and its counts in Better Auth's
// `rateLimit` table (`rateLimit.storage: "database"`): a Node Better Auth 1.7.25 (the peer at
// COMPAT_PEER_URL) and the server under test. Both take the client address from
// `X-Forwarded-For` (the peer by Better Auth's default for a single address; this server because
// TRUSTED_PROXIES names 127.0.0.1), so a client's sign-in attempts through either server count in
// one row, key `<ip>|/sign-in/email`, under the sign-in rule (3 per 10 s): whichever server gets
// the fourth refuses it with 429, in both orders.
//
// Run by compat/run.sh in its shared-rate-limit phase (PostgreSQL only).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { queryOne } from "./db.mjs";
import { API_URL, email, SERVER, TRUSTED_ORIGIN } from "./helpers.mjs";

const PEER_URL = (process.env.COMPAT_PEER_URL ?? "").replace(/\/+$/, "");
const skip = PEER_URL ? false : "COMPAT_PEER_URL is not set (compat/run.sh sets it in its shared-rate-limit phase)";

/** One wrong sign-in attempt through `baseURL` from client address `ip`; its status. */
async function wrongSignIn(baseURL, ip, address) {
	const res = await fetch(`${baseURL}/api/auth/sign-in/email`, {
		method: "POST",
		headers: { "content-type": "application/json", origin: TRUSTED_ORIGIN, "x-forwarded-for": ip },
		body: JSON.stringify({ email: address, password: "not the password" }),
	});
	await res.arrayBuffer();
	return res.status;
}

/** The shared row of `key`, with its count as a number. */
async function row(key) {
	const found = await queryOne(`SELECT "key", "count", "lastRequest" FROM "rateLimit" WHERE "key" = ?`, [key]);
	return found && { key: found.key, count: Number(found.count), lastRequest: Number(found.lastRequest) };
}

describe(`Better Auth's rateLimit table shared with a Node Better Auth (${SERVER} next to it)`, { skip }, () => {
	for (const [first, second, ip] of [
		["peer", "server", "198.51.100.71"],
		["server", "peer", "198.51.100.72"],
	]) {
		it(`two sign-in attempts through the ${first}, then through the ${second}: the fourth is 429`, async () => {
			const url = { peer: PEER_URL, server: API_URL };
			const address = email(`limit-${first}`);
			for (const n of [1, 2]) {
				assert.equal(await wrongSignIn(url[first], ip, address), 401, `attempt ${n} through the ${first}`);
			}
			assert.equal(await wrongSignIn(url[second], ip, address), 401, `attempt 3 through the ${second}`);
			assert.equal(await wrongSignIn(url[second], ip, address), 429, `attempt 4 through the ${second}: the ${first}'s count`);
			assert.equal(await wrongSignIn(url[first], ip, address), 429, `attempt 5 through the ${first}: the ${second}'s count`);
			const shared = await row(`${ip}|/sign-in/email`);
			assert.ok(shared, `one row under Better Auth's key ${ip}|/sign-in/email`);
			assert.equal(shared.count, 3, "three counted, the refused not");
			assert.ok(Math.abs(Date.now() - shared.lastRequest) < 60_000, `lastRequest in epoch ms: ${shared.lastRequest}`);
			// Another client address is counted on its own.
			assert.equal(await wrongSignIn(url[second], "198.51.100.73", email("limit-other")), 401);
		});
	}
});
