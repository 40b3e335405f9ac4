#!/usr/bin/env node
// The REFERENCE server: real Better Auth 1.7.25 with the bearer() plugin, served
// with node:http. It takes the same environment as our Rust binary so that
// `compat/run.sh --reference` can run the very same test files against it and
// prove that the tests themselves describe Better Auth's behaviour.
//
//   DATABASE_URL      sqlite:///abs/file.db?mode=rwc | postgres://…/db   (required)
//   AUTH_SECRET       >= 32 chars                                        (required)
//   BIND, PORT        default 127.0.0.1:0
//   BASE_URL          default http://<BIND>:<bound port>
//   TRUSTED_ORIGINS   comma list, e.g. http://localhost:3000
//   MAIL_OUTBOX       file that receives one JSON object per mail: {to, subject, text, url}
//   RATE_LIMIT_ENABLED  "true" to enable Better Auth's limiter (default off)
//   RATE_LIMIT_STORAGE  "database": its counts in the rateLimit table (default memory)
//   COOKIE_PREFIX     advanced.cookiePrefix (default better-auth)
//   COOKIE_DOMAIN     advanced.crossSubDomainCookies: { enabled: true, domain }
//   COOKIE_SAMESITE   advanced.defaultCookieAttributes.sameSite (lax, strict, none)
//   JWKS_ROTATION_INTERVAL  the jwt plugin's jwks.rotationInterval, seconds (default: none)
//   TWO_FACTOR        "true" adds the twoFactor() plugin (codes by email through MAIL_OUTBOX)
//
// NODE_ENV must not be "test": Better Auth then disables its origin checks.
// Prints `listening on http://127.0.0.1:<port>` once ready; exits 0 on SIGTERM/SIGINT.
import { appendFileSync } from "node:fs";
import http from "node:http";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt, twoFactor } from "better-auth/plugins";
import { closeDatabase, openForBetterAuth } from "../lib/database-url.mjs";

const env = process.env;
if (env.NODE_ENV === "test" || env.TEST) {
	console.error("refusing to start: NODE_ENV=test/TEST disables Better Auth's origin checks");
	process.exit(2);
}
if (!env.AUTH_SECRET || env.AUTH_SECRET.length < 32) {
	console.error("AUTH_SECRET must be at least 32 characters");
	process.exit(2);
}

function sendMail(mail) {
	if (!env.MAIL_OUTBOX) return;
	appendFileSync(env.MAIL_OUTBOX, `${JSON.stringify(mail)}\n`);
}

/** The options our Rust service mirrors (`docs/better-auth-wire.md` §13 peer: bearer, reset mail, verification mail, delete-user; the jwt plugin, `docs/better-auth-plugins.md` §JWT). */
export function referenceOptions({ database, secret, baseURL, trustedOrigins, rateLimit, rateLimitStorage, cookies = {}, jwks = {}, withTwoFactor = false }) {
	return {
		database,
		secret,
		baseURL,
		trustedOrigins,
		emailAndPassword: {
			enabled: true,
			sendResetPassword: async ({ user, url, token }) =>
				sendMail({ to: user.email, subject: "Reset your password", text: `Reset your password: ${url}`, url, token }),
		},
		emailVerification: {
			sendVerificationEmail: async ({ user, url, token }) =>
				sendMail({ to: user.email, subject: "Verify your email address", text: `Verify: ${url}`, url, token }),
		},
		user: { changeEmail: { enabled: true }, deleteUser: { enabled: true } },
		rateLimit: { enabled: rateLimit, ...(rateLimitStorage ? { storage: rateLimitStorage } : {}) },
		advanced: {
			disableOriginCheck: false,
			// The same settings as our COOKIE_PREFIX, COOKIE_DOMAIN and COOKIE_SAMESITE.
			...(cookies.prefix ? { cookiePrefix: cookies.prefix } : {}),
			...(cookies.domain ? { crossSubDomainCookies: { enabled: true, domain: cookies.domain } } : {}),
			...(cookies.sameSite ? { defaultCookieAttributes: { sameSite: cookies.sameSite } } : {}),
		},
		plugins: [
			bearer(),
			jwt(jwks.rotationInterval ? { jwks: { rotationInterval: jwks.rotationInterval } } : undefined),
			...(withTwoFactor
				? [twoFactor({ otpOptions: { sendOTP: async ({ user, otp }) => sendMail({ to: user.email, subject: "Your sign-in code", text: otp, url: "" }) } })]
				: []),
		],
	};
}

const database = openForBetterAuth(env.DATABASE_URL);
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(env.PORT ?? 0), env.BIND ?? "127.0.0.1", resolve));
const { address, port } = server.address();
const baseURL = env.BASE_URL ?? `http://${address}:${port}`;

const options = referenceOptions({
	database,
	secret: env.AUTH_SECRET,
	baseURL,
	trustedOrigins: (env.TRUSTED_ORIGINS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
	rateLimit: env.RATE_LIMIT_ENABLED === "true",
	rateLimitStorage: env.RATE_LIMIT_STORAGE,
	cookies: { prefix: env.COOKIE_PREFIX, domain: env.COOKIE_DOMAIN, sameSite: env.COOKIE_SAMESITE?.toLowerCase() },
	jwks: { rotationInterval: Number(env.JWKS_ROTATION_INTERVAL ?? 0) || undefined },
	withTwoFactor: env.TWO_FACTOR === "true",
});
const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);
const authHandler = toNodeHandler(auth);

server.on("request", (req, res) => {
	if (req.url.startsWith("/api/auth")) return authHandler(req, res);
	res.statusCode = 404;
	res.setHeader("content-type", "application/json");
	res.end(JSON.stringify({ code: "NOT_FOUND", message: "Not found" }));
});
// The address actually bound (BASE_URL may name a public host), as the Rust binary logs it.
console.log(`listening on http://${address}:${port}`);

async function shutdown() {
	server.close();
	server.closeAllConnections();
	await closeDatabase(database);
	process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
