// Minimal Better Auth server: the auth baseline of the benchmark (bench/README.md).
//
// Better Auth 1.7.25 with its stock PostgreSQL support (a `pg` Pool, Kysely underneath),
// email/password and the bearer plugin, rate limiting off, no cookie cache (the default, and
// the only setting under which a revoked session dies at once, as our service's does).
// Served by node:http through `toNodeHandler`, like the Node deployments in Better Auth's docs.
//
// Env: DATABASE_URL (postgres://...), PORT, BIND (default 127.0.0.1), BETTER_AUTH_SECRET,
//      BA_WORKERS (node:cluster workers, default 1), PG_POOL_MAX (per worker, default 10).
// Prints `listening on http://<bind>:<port>` once every worker accepts connections.
//
// With BA_WORKERS > 1 the primary only supervises: it loads no Better Auth code itself (a
// short-lived child runs the migrations), so its memory is the bare cost of node:cluster.
import cluster from "node:cluster";
import http from "node:http";

const { betterAuth } = cluster.isPrimary && Number(process.env.BA_WORKERS || 1) > 1 ? {} : await import("better-auth");

const bind = process.env.BIND || "127.0.0.1";
const port = Number(process.env.PORT || 3000);
const workers = Math.max(1, Number(process.env.BA_WORKERS || 1));
const origin = `http://${bind}:${port}`;

async function options() {
  const pg = (await import("pg")).default;
  const { bearer } = await import("better-auth/plugins");
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is required");
  if (!process.env.BETTER_AUTH_SECRET) throw new Error("BETTER_AUTH_SECRET is required");
  return {
    database: new pg.Pool({
      connectionString: process.env.DATABASE_URL,
      max: Number(process.env.PG_POOL_MAX || 10),
    }),
    secret: process.env.BETTER_AUTH_SECRET,
    baseURL: origin,
    trustedOrigins: [origin],
    emailAndPassword: { enabled: true },
    plugins: [bearer()],
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    // Plain HTTP on loopback: no __Secure- prefix even under NODE_ENV=production.
    advanced: { useSecureCookies: false },
  };
}

async function migrate() {
  const { getMigrations } = await import("better-auth/db/migration");
  const opts = await options();
  const { runMigrations } = await getMigrations(opts);
  await runMigrations();
  await opts.database.end();
}

async function serve(onListening) {
  const { toNodeHandler } = await import("better-auth/node");
  const auth = betterAuth(await options());
  const server = http.createServer(toNodeHandler(auth));
  server.keepAliveTimeout = 65_000;
  server.listen(port, bind, onListening);
  return server;
}

function announce() {
  console.log(`listening on ${origin} (better-auth 1.7.25, ${workers} worker(s))`);
}

if (process.env.BA_ROLE === "migrate") {
  await migrate();
  process.exit(0);
} else if (workers === 1) {
  await migrate();
  await serve(announce);
  // No graceful drain: the harness stops servers between phases and a sign-in backlog
  // would keep hashing passwords long after its clients went away.
  process.on("SIGTERM", () => process.exit(0));
  process.on("SIGINT", () => process.exit(0));
} else if (cluster.isPrimary) {
  const code = await new Promise((resolve) => cluster.fork({ BA_ROLE: "migrate" }).on("exit", resolve));
  if (code !== 0) {
    console.error(`migrations failed (exit ${code})`);
    process.exit(1);
  }
  let ready = 0;
  let stopping = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("listening", () => {
    ready += 1;
    if (ready === workers) announce();
  });
  cluster.on("exit", (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} died (${signal || code})`);
      process.exit(1);
    }
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on("exit", () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  await serve();
  process.on("SIGTERM", () => process.exit(0));
  process.on("SIGINT", () => {});
}
