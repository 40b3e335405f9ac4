// What a Node Better Auth deployment sharing our database would read: the
// password hash verifies with Better Auth's own verifyPassword, rows have
// Better Auth's encodings, and session.token is hashed unless storage is plain.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { verifyPassword } from "better-auth/crypto";
import { databaseAvailable, DB_KIND, queryOne } from "./db.mjs";
import { sha256Hex, signedUpUser, TOKEN_STORAGE } from "./helpers.mjs";

const skip = databaseAvailable() ? false : "the server's database location was not given (COMPAT_DB_KIND/COMPAT_DB_PATH/COMPAT_DB_URL)";
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe(`database interop (${DB_KIND || "no database"}, session tokens ${TOKEN_STORAGE})`, { skip }, () => {
	it("account.password is a Better Auth scrypt hash that better-auth/crypto verifies", async () => {
		const account = await signedUpUser({ prefix: "hash" });
		const row = await queryOne(`SELECT "accountId", "providerId", "password" FROM "account" WHERE "userId" = ?`, [account.user.id]);
		assert.ok(row, "a credential account row exists");
		assert.equal(row.providerId, "credential");
		assert.equal(row.accountId, account.user.id, "accountId is the user id");
		assert.match(row.password, /^[0-9a-f]{32}:[0-9a-f]{128}$/, "<32 hex salt>:<128 hex key>");
		assert.equal(await verifyPassword({ hash: row.password, password: account.password }), true, "verifies with Better Auth");
		assert.equal(await verifyPassword({ hash: row.password, password: `${account.password}!` }), false, "rejects a wrong password");
	});

	it(`session.token is stored ${TOKEN_STORAGE === "plain" ? "as the raw token" : "as the lower-case hex SHA-256 of the token"}`, async () => {
		const account = await signedUpUser({ prefix: "stored-token" });
		const row = await queryOne(`SELECT "token", "userId" FROM "session" WHERE "userId" = ?`, [account.user.id]);
		assert.ok(row, "a session row exists");
		if (TOKEN_STORAGE === "plain") {
			assert.equal(row.token, account.token);
		} else {
			assert.notEqual(row.token, account.token, "the raw token must not be in the database");
			assert.equal(row.token, sha256Hex(account.token));
		}
	});

	it("user and session rows use Better Auth's column encodings", async () => {
		const account = await signedUpUser({ prefix: "encodings" });
		const user = await queryOne(`SELECT * FROM "user" WHERE "id" = ?`, [account.user.id]);
		const session = await queryOne(`SELECT * FROM "session" WHERE "userId" = ?`, [account.user.id]);
		assert.equal(user.email, account.email);
		assert.equal(user.image, null);
		if (DB_KIND === "sqlite") {
			assert.equal(user.emailVerified, 0, "SQLite booleans are 0/1");
			// Better Auth compares SQLite dates as ISO text, so the format must be exact (`docs/better-auth-wire.md` §8.2).
			for (const [what, v] of [
				["user.createdAt", user.createdAt],
				["user.updatedAt", user.updatedAt],
				["session.expiresAt", session.expiresAt],
				["session.createdAt", session.createdAt],
				["session.updatedAt", session.updatedAt],
			]) {
				assert.match(String(v), ISO_MS, `${what} is toISOString() text`);
			}
		} else {
			assert.equal(user.emailVerified, false);
			assert.ok(session.expiresAt instanceof Date, "timestamptz");
		}
		assert.equal(new Date(session.expiresAt).getTime() > Date.now() + 6 * 86400 * 1000, true, "expires in about 7 days");
	});
});
