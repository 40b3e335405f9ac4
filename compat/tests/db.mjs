// Read-only access to the database of the server under test, for interop checks
// (what a Node Better Auth deployment sharing that database would read).
import Database from "better-sqlite3";
import pg from "pg";

export const DB_KIND = process.env.COMPAT_DB_KIND ?? "";

/** True when the test process was told where the server's database is. */
export function databaseAvailable() {
	return (DB_KIND === "sqlite" && !!process.env.COMPAT_DB_PATH) || (DB_KIND === "postgres" && !!process.env.COMPAT_DB_URL);
}

/**
 * Runs one query with `?` placeholders and returns the first row (or undefined).
 * SQLite values come back as stored (dates are TEXT, booleans 0/1); PostgreSQL
 * timestamptz as Date and booleans as boolean.
 */
export async function queryOne(sql, params = []) {
	if (DB_KIND === "sqlite") {
		const db = new Database(process.env.COMPAT_DB_PATH, { readonly: true, fileMustExist: true });
		try {
			return db.prepare(sql).get(...params);
		} finally {
			db.close();
		}
	}
	let n = 0;
	const client = new pg.Client({ connectionString: process.env.COMPAT_DB_URL });
	await client.connect();
	try {
		const res = await client.query(sql.replace(/\?/g, () => `$${++n}`), params);
		return res.rows[0];
	} finally {
		await client.end();
	}
}
