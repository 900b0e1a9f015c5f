/**
 * Families of pathological request bodies (issue 11 item 1), shared by the integration test and
 * `bun run bench hostile`. Each names the answer the gate must give on any JSON route: the status
 * and a pattern of the problem's detail.
 */
export interface HostileBody {
  family: string;
  contentType: string | null;
  /** A function so a streamed body is a fresh stream per request. */
  body: () => BodyInit;
  status: number;
  detail: RegExp;
}

const enc = new TextEncoder();

/** A body sent with chunked transfer (no Content-Length), arriving in 16 KiB pieces. */
function streamed(text: string): () => BodyInit {
  return () => {
    const bytes = enc.encode(text);
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(bytes.subarray(at, (at += 16 * 1024)));
      },
    });
  };
}

const JSON_TYPE = "application/json";
const deepArrays = "[".repeat(100_000) + "]".repeat(100_000);
const deeperArrays = "[".repeat(600_000) + "]".repeat(600_000);

export const HOSTILE_BODIES: HostileBody[] = [
  // The attack as found (100,000 levels, 200 KB; over most routes' limits, so chunked to reach the
  // scanner everywhere) and bigger than any route's limit (1.2 MB, refused on its Content-Length).
  { family: "deep arrays, 1.2 MB", contentType: JSON_TYPE, body: () => deeperArrays, status: 413, detail: /at most \d+ bytes/ },
  { family: "deep arrays, 200 KB chunked", contentType: JSON_TYPE, body: streamed(deepArrays), status: 400, detail: /nested deeper than 32/ },
  { family: "deep arrays, 2 KB", contentType: JSON_TYPE, body: () => "[".repeat(1000) + "]".repeat(1000), status: 400, detail: /nested deeper than 32/ },
  { family: "deep objects", contentType: JSON_TYPE, body: () => '{"a":'.repeat(5000) + "1" + "}".repeat(5000), status: 400, detail: /nested deeper than 32/ },
  { family: "deep, no content type", contentType: null, body: () => '{"a":['.repeat(500), status: 400, detail: /nested deeper than 32/ },
  { family: "huge array", contentType: JSON_TYPE, body: () => `{"items":[${"0,".repeat(6000)}0]}`, status: 400, detail: /more than \d+ elements/ },
  { family: "long string", contentType: JSON_TYPE, body: () => `{"email":"${"a".repeat(40_000)}"}`, status: 400, detail: /longer than 16384 characters/ },
  {
    family: "many keys",
    contentType: JSON_TYPE,
    body: () => `{${Array.from({ length: 2000 }, (_, i) => `"k${i}":0`).join(",")}}`,
    status: 400,
    detail: /more than 64 keys/,
  },
  // Well formed, every string and object within bounds, but 1 MB: over every route's byte limit.
  {
    family: "1 MB body, chunked",
    contentType: JSON_TYPE,
    body: streamed(`{${Array.from({ length: 62 }, (_, i) => `"k${i}":"${"x".repeat(16_000)}"`).join(",")}}`),
    status: 413,
    detail: /at most \d+ bytes/,
  },
  {
    family: "invalid UTF-8",
    contentType: JSON_TYPE,
    body: () => new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]),
    status: 400,
    detail: /not valid UTF-8/,
  },
  { family: "number 1e999999", contentType: JSON_TYPE, body: () => '{"lat":1e999999,"lng":-1e999999}', status: 400, detail: /too large to represent/ },
  { family: "truncated", contentType: JSON_TYPE, body: () => '{"email":"a@b.c","password":"x', status: 400, detail: /ends before its value is complete/ },
  { family: "duplicate keys", contentType: JSON_TYPE, body: () => '{"role":"viewer","role":"admin"}', status: 400, detail: /repeats the key "role"/ },
  {
    family: "__proto__",
    contentType: JSON_TYPE,
    body: () => '{"__proto__":{"role":"admin","isAdmin":true}}',
    status: 400,
    detail: /"__proto__" is not allowed/,
  },
  { family: "wrong content type", contentType: "text/plain", body: () => "[".repeat(50_000), status: 415, detail: /expected application\/json/ },
];

export interface JsonRoute {
  method: string;
  /** With path parameters filled in. */
  path: string;
}

/**
 * Every operation of the running app that takes a body, read from its OpenAPI document so a new
 * route is covered without touching the tests. Routes whose body is raw media (chunks, photos)
 * declare no JSON and are left out.
 */
export async function jsonRoutes(base: string): Promise<JsonRoute[]> {
  const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>>;
  };
  const routes: JsonRoute[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const content = op.requestBody?.content;
      if (!content || !("application/json" in content)) continue;
      routes.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, (p) => (p === "{name}" || p === "{tag}" ? "fire" : crypto.randomUUID())) });
    }
  }
  return routes;
}

/** Sends one hostile body; the answer's status, content type and parsed problem. */
export async function sendHostile(
  base: string,
  route: JsonRoute,
  h: HostileBody,
  token: string | null,
): Promise<{ status: number; type: string; problem: { status?: number; code?: string; detail?: string } }> {
  const headers: Record<string, string> = {};
  if (h.contentType) headers["content-type"] = h.contentType;
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${route.path}`, { method: route.method, headers, body: h.body(), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let problem = {};
  try {
    problem = JSON.parse(text);
  } catch {
    problem = { detail: text.slice(0, 200) };
  }
  return { status: res.status, type: res.headers.get("content-type") ?? "", problem };
}
