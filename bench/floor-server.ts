// The raw floor rter is compared against: a bare Bun.serve on 127.0.0.1:$PORT, nothing else.
// FLOOR_MODE=static answers a fixed JSON body (the cost of Bun + HTTP alone).
// FLOOR_MODE=pg answers GET /api/v1/auth/me by running the same token lookup rter runs, through
// the same driver (pg.Pool), with no framework, no validation and no per-request context — so the
// gap between it and rter is what Elysia, the schemas and our edge add on top of Postgres.
// FLOOR_MODE=exit exits at once: the cost of starting the runtime and nothing else.
// FLOOR_MODE=ingest takes PUT …/init and …/chunks/{seq} as rter does at its floor: the body is
// hashed (SHA-256), PUT to MinIO (FLOOR_S3 JSON) and one row INSERTed; no auth, no checks.
// Reads process.env directly: it is a benchmark fixture, not part of the appliance.
const port = Number(process.env.PORT);
const mode = process.env.FLOOR_MODE ?? "static";
if (mode === "exit") process.exit(0);
const body = JSON.stringify({ status: "ok", node: "floor" });

// Imported only in pg mode, so the static floor's cold start does not pay for loading pg.
const pool = mode === "pg" || mode === "ingest" ? new (await import("pg")).default.Pool({ connectionString: process.env.DATABASE_URL, max: 10 }) : null;
const s3 =
  mode === "ingest"
    ? (JSON.parse(process.env.FLOOR_S3 ?? "{}") as { endPoint: string; port: number; accessKey: string; secretKey: string; bucket: string })
    : null;
const minio = s3
  ? new (await import("minio")).Client({
      endPoint: s3.endPoint,
      port: s3.port,
      useSSL: false,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: "us-east-1",
    })
  : null;
if (mode === "ingest") {
  await pool!.query(
    "create table if not exists bench_floor_chunks (stream_id text, seq int, object_key text, sha256 text, size int, received_at timestamptz default now(), primary key (stream_id, seq))",
  );
}

async function ingest(req: Request): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (path === "/healthz") return new Response("ok");
  const m = /^\/api\/v1\/streams\/([^/]+)\/(init|chunks\/(\d+))$/.exec(path);
  if (!m || req.method !== "PUT") return new Response(null, { status: 404 });
  const bytes = new Uint8Array(await req.arrayBuffer());
  const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  const seq = m[3] === undefined ? -1 : Number(m[3]);
  const key = `floor/${m[1]}/${seq}/${crypto.randomUUID()}`;
  await minio!.putObject(s3!.bucket, key, Buffer.from(bytes), bytes.length);
  await pool!.query("insert into bench_floor_chunks (stream_id, seq, object_key, sha256, size) values ($1, $2, $3, $4, $5) on conflict do nothing", [
    m[1],
    seq,
    key,
    sha256,
    bytes.length,
  ]);
  return Response.json({ seq, sha256 }, { status: 201 });
}
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
  fetch: (req) => (mode === "ingest" ? ingest(req) : pool ? me(req) : new Response(body, { headers: { "content-type": "application/json" } })),
});

export {}; // a module, so the top-level await above is allowed
