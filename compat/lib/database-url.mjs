// Opens the database named by a DATABASE_URL the way the Rust service reads it:
// `sqlite:///abs/path.db?mode=rwc` or `postgres://user@host:port/db`.
// Used by the reference Better Auth server and the fixture script, so that
// both speak the same configuration language as our binary.
import Database from "better-sqlite3";
import pg from "pg";

/** Parses a DATABASE_URL into `{ kind: "sqlite", path }` or `{ kind: "postgres", url }`. */
export function parseDatabaseUrl(url) {
	if (!url) throw new Error("DATABASE_URL is required");
	if (url.startsWith("sqlite:")) {
		// sqlite:///abs/path?mode=rwc  or  sqlite://relative/path  or  sqlite:path
		const withoutScheme = url.slice("sqlite:".length).replace(/^\/\//, "");
		const path = decodeURIComponent(withoutScheme.split("?")[0]);
		return { kind: "sqlite", path };
	}
	if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
		return { kind: "postgres", url };
	}
	// A bare path is taken as a SQLite file (convenient for the fixture script).
	return { kind: "sqlite", path: url };
}

/** Returns a Better Auth `database` option (a better-sqlite3 Database or a pg Pool). */
export function openForBetterAuth(url) {
	const db = parseDatabaseUrl(url);
	if (db.kind === "sqlite") return new Database(db.path);
	return new pg.Pool({ connectionString: db.url, max: 5 });
}

/** Closes what `openForBetterAuth` opened. */
export async function closeDatabase(handle) {
	if (handle instanceof Database) handle.close();
	else await handle.end();
}
