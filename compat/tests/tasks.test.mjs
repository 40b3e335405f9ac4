// Smoke test: the session cookie kept by the official client also guards the tasks API.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SERVER, signedUpUser, skipUnlessEndpoints } from "./helpers.mjs";

const skip = SERVER === "betterauth" ? "the reference Better Auth server has no tasks API" : await skipUnlessEndpoints("GET /api/v1/tasks");

describe("tasks API with the Better Auth session", { skip }, () => {
	it("a cookie from the client authenticates GET /api/v1/tasks", async () => {
		const account = await signedUpUser({ prefix: "tasks" });
		const res = await account.browser.request("/api/v1/tasks");
		assert.equal(res.status, 200);
		assert.deepEqual(await res.json(), { items: [], next_cursor: null });
	});

	it("without a session it is 401 UNAUTHORIZED", async () => {
		const res = await fetch(`${process.env.API_URL}/api/v1/tasks`);
		assert.equal(res.status, 401);
		assert.equal((await res.json()).code, "UNAUTHORIZED");
	});
});
