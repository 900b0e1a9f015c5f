// Operator console shell: sign-in, then the key indicators of this node, refreshed every 2 s.
// The live grid, map and workspaces build on this page.

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(path, { credentials: "same-origin", ...init, headers: { "content-type": "application/json", ...init.headers } });
}

async function showStatus(): Promise<void> {
  const res = await api("/api/v1/status");
  const s = await res.json();
  const rows: [string, string, boolean?][] = [
    ["Node", `${s.node} (${s.roles.join(", ")})`],
    ["Version", s.version],
    ["Phase", s.phase, s.phase === "ready"],
    ["Postgres", s.postgres ? (s.postgres.reachable ? `up, ${s.postgres.latency_ms} ms` : `down: ${s.postgres.error}`) : "n/a", s.postgres?.reachable],
    ["Storage", s.storage ? (s.storage.reachable ? `${s.storage.kind}, ${s.storage.latency_ms} ms` : `down: ${s.storage.error}`) : "n/a", s.storage?.reachable],
    ["Queue", s.queue ? `${s.queue.depth} waiting, ${s.queue.running} running, ${s.queue.failed} failed` : "n/a"],
    ["Live streams", s.ingest ? `${s.ingest.live_streams} (ingest lag p95 ${s.ingest.lag_p95_seconds ?? "–"} s, ${s.ingest.chunks_waiting} chunks waiting)` : "n/a"],
    ["Integrity", s.integrity ? `${s.integrity.mismatches_open} open mismatches, last check ${s.integrity.last_run_at ?? "never"}` : "n/a", s.integrity ? s.integrity.mismatches_open === 0 : undefined],
    ["Requests", `${s.requests.total} (error rate ${(s.requests.error_rate * 100).toFixed(2)}%)`],
    ["Latency p50/p95/p99", ["p50", "p95", "p99"].map((k) => s.requests.latency_ms[k] ?? "–").join(" / ") + " ms"],
    ["Uptime", `${s.uptime_seconds} s`],
  ];
  const dl = $("#indicators");
  dl.replaceChildren(
    ...rows.flatMap(([k, v, ok]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      if (ok !== undefined) dd.className = ok ? "good" : "bad";
      return [dt, dd];
    }),
  );
}

async function start(): Promise<void> {
  const me = await api("/api/v1/auth/me");
  if (me.status === 200) {
    const user = await me.json();
    $("#who").textContent = `${user.email} (${user.role})`;
    $("#login").hidden = true;
    $("#status").hidden = false;
    await showStatus();
    setInterval(() => void showStatus().catch(() => {}), 2000);
  } else {
    $("#login").hidden = false;
  }
}

$<HTMLFormElement>("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target as HTMLFormElement);
  const res = await api("/api/v1/auth/login", { method: "POST", body: JSON.stringify({ email: form.get("email"), password: form.get("password") }) });
  if (res.ok) return start();
  const p = await res.json().catch(() => ({ detail: res.statusText }));
  $("#login-error").textContent = p.detail ?? "Sign-in failed";
});

$("#logout").addEventListener("click", async () => {
  await api("/api/v1/auth/logout", { method: "POST" });
  location.reload();
});

void start();
