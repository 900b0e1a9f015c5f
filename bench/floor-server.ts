// The raw floor rter is compared against: a bare Bun.serve on 127.0.0.1:$PORT, nothing else.
// FLOOR_MODE=static answers a fixed JSON body (the cost of Bun + HTTP alone).
// FLOOR_MODE=pg answers GET /api/v1/auth/me by running the same token lookup rter runs, through
// the same driver (pg.Pool), with no framework, no validation and no per-request context — so the
// gap between it and rter is what Elysia, the schemas and our edge add on top of Postgres.
// FLOOR_MODE=exit exits at once: the cost of starting the runtime and nothing else.
// Reads process.env directly: it is a benchmark fixture, not part of the appliance.
const port = Number(process.env.PORT);
const mode = process.env.FLOOR_MODE ?? "static";
if (mode === "exit") process.exit(0);
const body = JSON.stringify({ status: "ok", node: "floor" });

// Imported only in pg mode, so the static floor's cold start does not pay for loading pg.
const pool = mode === "pg" ? new (await import("pg")).default.Pool({ connectionString: process.env.DATABASE_URL, max: 10 }) : null;
const SQL = `select users.id, users.email, users.role, users.created_at, api_tokens.id as token_id, api_tokens.kind as token_kind
  from api_tokens inner join users on users.id = api_tokens.user_id
  where api_tokens.token_hash = $1 and api_tokens.revoked_at is null and users.disabled_at is null
    and (api_tokens.expires_at is null or api_tokens.expires_at > $2)`;

async function me(req: Request): Promise<Response> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  if (!m) return new Response(null, { status: 401 });
  const hash = Buffer.from(new Bun.CryptoHasher("sha256").update(m[1]!).digest());
  const { rows } = await pool!.query(SQL, [hash, new Date()]);
  const u = rows[0];
  if (!u) return new Response(null, { status: 401 });
  return Response.json({ id: u.id, email: u.email, role: u.role });
}

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch: (req) => (pool ? me(req) : new Response(body, { headers: { "content-type": "application/json" } })),
});

export {}; // a module, so the top-level await above is allowed
