// The jwt plugin (`docs/better-auth-plugins.md` §JWT) through the official client with
// `jwtClient()`: the token from `client.token()` and from get-session's `set-auth-jwt` header
// verifies with `jose` against the server's key set (`createRemoteJWKSet`), exactly as another
// backend would verify it; the key set has public keys only, and is also served at
// `/.well-known/jwks.json` with caching headers (this service only).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAuthClient } from "better-auth/client";
import { jwtClient } from "better-auth/client/plugins";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { API_URL, Browser, email, PASSWORD, SERVER } from "./helpers.mjs";

const JWKS = createRemoteJWKSet(new URL(`${API_URL}/api/auth/jwks`));
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi"];

async function signedUp() {
	const browser = new Browser();
	const client = createAuthClient({ baseURL: API_URL, plugins: [jwtClient()], fetchOptions: { customFetchImpl: browser.fetch } });
	const address = email("jwt");
	const { data, error } = await client.signUp.email({ name: "Jay Dub", email: address, password: PASSWORD });
	assert.equal(error, null, JSON.stringify(error));
	return { browser, client, user: data.user, email: address };
}

describe(`the jwt plugin with the official jwtClient (${SERVER})`, () => {
	it("client.token() returns a JWT that jose verifies against the key set", async () => {
		const { client, user, email: address } = await signedUp();
		const { data, error } = await client.token();
		assert.equal(error, null, JSON.stringify(error));
		const { payload, protectedHeader } = await jwtVerify(data.token, JWKS, { issuer: API_URL, audience: API_URL });
		assert.equal(protectedHeader.alg, "EdDSA");
		assert.equal(typeof protectedHeader.kid, "string");
		assert.equal(payload.sub, user.id);
		assert.equal(payload.id, user.id);
		assert.equal(payload.email, address);
		assert.equal(payload.name, "Jay Dub");
		assert.equal(payload.emailVerified, false);
		assert.equal(payload.exp - payload.iat, 900, "15 minutes");
	});

	it("client.jwks() lists public keys only, with the kid the tokens name", async () => {
		const { client } = await signedUp();
		const { data: tokenData } = await client.token();
		const { data, error } = await client.jwks();
		assert.equal(error, null, JSON.stringify(error));
		assert.ok(data.keys.length >= 1);
		for (const key of data.keys) {
			assert.equal(key.alg, "EdDSA");
			assert.equal(key.kty, "OKP");
			assert.equal(key.crv, "Ed25519");
			for (const member of PRIVATE_MEMBERS) assert.equal(key[member], undefined, `no ${member}`);
		}
		assert.ok(data.keys.some((key) => key.kid === decodeProtectedHeader(tokenData.token).kid));
	});

	it("getSession hands out a fresh JWT in set-auth-jwt, readable cross-origin", async () => {
		const { client, user, browser } = await signedUp();
		let jwt;
		const { data, error } = await client.getSession({
			fetchOptions: { onSuccess: (ctx) => { jwt = ctx.response.headers.get("set-auth-jwt"); } },
		});
		assert.equal(error, null);
		assert.equal(data.user.id, user.id);
		assert.ok(jwt, "set-auth-jwt header");
		const exposed = (browser.last("/get-session").headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim());
		assert.ok(exposed.includes("set-auth-jwt"), `exposed: ${exposed}`);
		const { payload } = await jwtVerify(jwt, JWKS, { issuer: API_URL, audience: API_URL });
		assert.equal(payload.sub, user.id);
	});

	it("a token changed in any way does not verify", async () => {
		const { client } = await signedUp();
		const { data } = await client.token();
		const [header, payload, signature] = data.token.split(".");
		const claims = JSON.parse(Buffer.from(payload, "base64url"));
		const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url")}.${signature}`;
		await assert.rejects(jwtVerify(forged, JWKS, { issuer: API_URL, audience: API_URL }));
		await assert.rejects(jwtVerify(data.token, JWKS, { issuer: API_URL, audience: "https://another.example" }), /aud/);
	});

	it("the key set is cacheable and also at /.well-known/jwks.json", { skip: SERVER !== "rust" && "this service only" }, async () => {
		const first = await fetch(`${API_URL}/api/auth/jwks`);
		assert.equal(first.status, 200);
		assert.match(first.headers.get("cache-control") ?? "", /^public, max-age=\d+/);
		const etag = first.headers.get("etag");
		assert.ok(etag);
		const body = await first.json();
		const wellKnown = await fetch(`${API_URL}/.well-known/jwks.json`);
		assert.deepEqual(await wellKnown.json(), body);
		const again = await fetch(`${API_URL}/api/auth/jwks`, { headers: { "if-none-match": etag } });
		assert.equal(again.status, 304);
	});
});
