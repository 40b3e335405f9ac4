// One database, two servers with the jwt plugin (`docs/better-auth-plugins.md` §JWT): a Node
// Better Auth 1.7.25 (the peer at COMPAT_PEER_URL) and the server under test, with the same
// BASE_URL (so `iss` and `aud` agree) and keys rotating every COMPAT_JWT_ROTATION seconds. In
// order: the peer creates the first key and this server signs with it (it decrypts a private
// key Better Auth sealed); after that key expires this server creates the next one and the peer
// signs with it (Better Auth decrypts ours). Every token verifies with jose against either
// server's key set, and retired keys stay published.
//
// Run by compat/run.sh in its shared-jwt phases (fresh database, nothing else running on it).
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { API_URL, email, PASSWORD, SERVER, TRUSTED_ORIGIN } from "./helpers.mjs";

const PEER_URL = (process.env.COMPAT_PEER_URL ?? "").replace(/\/+$/, "");
const ISSUER = process.env.COMPAT_JWT_ISSUER;
const ROTATION_S = Number(process.env.COMPAT_JWT_ROTATION ?? 0);
const skip = PEER_URL && ISSUER && ROTATION_S ? false : "COMPAT_PEER_URL is not set (compat/run.sh sets it in its shared-jwt phases)";

/** Signs up at the peer; the bearer value works on both servers (one database, one secret). */
async function signUpAtPeer() {
	const res = await fetch(`${PEER_URL}/api/auth/sign-up/email`, {
		method: "POST",
		headers: { "content-type": "application/json", origin: TRUSTED_ORIGIN },
		body: JSON.stringify({ name: "Shared JWT", email: email("jwtshared"), password: PASSWORD }),
	});
	assert.equal(res.status, 200, await res.clone().text());
	const body = await res.json();
	return { id: body.user.id, bearer: res.headers.get("set-auth-token") };
}

async function tokenAt(baseURL, user) {
	const res = await fetch(`${baseURL}/api/auth/token`, { headers: { authorization: `Bearer ${user.bearer}` } });
	assert.equal(res.status, 200, `${baseURL}/token: ${await res.clone().text()}`);
	return (await res.json()).token;
}

async function keySetAt(baseURL) {
	const res = await fetch(`${baseURL}/api/auth/jwks`);
	assert.equal(res.status, 200);
	return res.json();
}

/** Verifies `token` against both servers' key sets; returns its kid. */
async function verifiesEverywhere(token, user, what) {
	for (const baseURL of [API_URL, PEER_URL]) {
		const set = await keySetAt(baseURL);
		const { payload } = await jwtVerify(token, createLocalJWKSet(set), { issuer: ISSUER, audience: ISSUER }).catch((err) => {
			throw new Error(`${what} against ${baseURL === API_URL ? "this server's" : "the peer's"} key set: ${err.message}`);
		});
		assert.equal(payload.sub, user.id, what);
	}
	return decodeProtectedHeader(token).kid;
}

describe(`the jwt plugin on one database with a Node Better Auth (${SERVER} next to it)`, { skip }, () => {
	it("each server signs with the key the other created, and both key sets verify every token", async () => {
		const user = await signUpAtPeer();

		const peerFirst = await tokenAt(PEER_URL, user);
		const first = await verifiesEverywhere(peerFirst, user, "the peer's first token");
		const hereFirst = await tokenAt(API_URL, user);
		assert.equal(await verifiesEverywhere(hereFirst, user, "this server's first token"), first, "this server signs with the key Better Auth created");

		await sleep(ROTATION_S * 1000 + 500);
		const hereSecond = await tokenAt(API_URL, user);
		const second = await verifiesEverywhere(hereSecond, user, "this server's token after the rotation");
		assert.notEqual(second, first, "the expired key no longer signs");
		const peerSecond = await tokenAt(PEER_URL, user);
		assert.equal(await verifiesEverywhere(peerSecond, user, "the peer's token after the rotation"), second, "Better Auth signs with the key this server created");

		for (const baseURL of [API_URL, PEER_URL]) {
			const kids = (await keySetAt(baseURL)).keys.map((key) => key.kid);
			assert.ok(kids.includes(first) && kids.includes(second), `${baseURL}: the retired key stays published: ${kids}`);
		}
		await verifiesEverywhere(peerFirst, user, "a token signed before the rotation");
	});
});
