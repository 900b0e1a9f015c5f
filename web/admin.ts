// The administration page: users (add, role, disable, unlock, set password), API tokens (create, shown once;
// revoke), invite links, legal holds in force, evidence packages and the signing key, and the audit trail with its chain check and
// exports. Every action is an API call the role matrix already guards; this page adds nothing
// the API would not allow, it only makes it reachable without a terminal.
import { api, ApiError, el, me, signIn, type User } from "./lib/api.ts";
import { signOut } from "./lib/oidc.ts";
import type { ExportView as ExportSchema, SigningKeyView as SigningKeySchema } from "../core/evidence/exports.model.ts";

type Role = User["role"];
interface AdminUser {
  id: string;
  email: string;
  role: Role;
  created_at: string;
  disabled_at: string | null;
  locked_until: string | null;
  second_factor: { totp: boolean; passkeys: number };
}
interface TokenView {
  id: string;
  name: string;
  user: { id: string; email: string; role: Role };
  role: Role;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}
interface InviteView {
  id: string;
  role: string;
  note: string;
  state: "open" | "used" | "expired" | "revoked";
  created_at: string;
  expires_at: string;
}
interface HoldView {
  id: string;
  stream_id: string | null;
  item_id: string | null;
  reason: string;
  placed_at: string;
}
interface AuditEntry {
  id: string;
  seq: string | null;
  at: string;
  actor_email: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  detail: Record<string, unknown>;
}

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "—");

function flash(text: string, bad = false): void {
  const f = $("#flash");
  f.textContent = text;
  f.dataset.state = bad ? "error" : "ok";
}

/** Runs an action; its error goes to the flash line instead of vanishing. */
async function act(what: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (e) {
    flash(`${what} failed: ${e instanceof ApiError ? e.message : String(e)}`, true);
    return false;
  }
}

/** A destructive button asks twice: the first click arms it, the second acts (no modal dialogs). */
function armed(label: string, confirmLabel: string, onConfirm: () => Promise<void>, aria: string): HTMLButtonElement {
  const b = el("button", { type: "button", class: "quiet", "aria-label": aria, text: label });
  b.addEventListener("click", async () => {
    if (b.dataset.armed !== "1") {
      b.dataset.armed = "1";
      b.textContent = confirmLabel;
      setTimeout(() => {
        b.dataset.armed = "";
        b.textContent = label;
      }, 5000);
      return;
    }
    b.disabled = true;
    await onConfirm();
    b.disabled = false;
  });
  return b;
}

// ---------------- users ----------------

async function loadUsers(): Promise<void> {
  const users = await api<AdminUser[]>("/api/v1/admin/users?limit=1000");
  const rows = users.map((u) => {
    const locked = u.locked_until && Date.parse(u.locked_until) > Date.now();
    const f = u.second_factor;
    const factors = [f.totp ? "app" : "", f.passkeys ? `${f.passkeys} passkey${f.passkeys > 1 ? "s" : ""}` : ""].filter(Boolean).join(", ");
    const state = `${u.disabled_at ? "disabled" : locked ? `locked until ${new Date(u.locked_until!).toLocaleTimeString()}` : "active"} · second factor: ${factors || "none"}`;
    const role = el(
      "select",
      { "aria-label": `Role of ${u.email}` },
      ...(["admin", "operator", "reporter", "viewer"] as const).map((r) => el("option", { value: r, selected: r === u.role, text: r })),
    );
    role.addEventListener("change", async () => {
      if (await act("Changing the role", () => api(`/api/v1/admin/users/${u.id}`, { method: "PATCH", json: { role: role.value } })))
        flash(`${u.email} is now ${role.value}; their sessions and tokens were ended.`);
      await loadUsers();
    });
    const toggle = armed(
      u.disabled_at ? "Enable" : "Disable",
      u.disabled_at ? "Confirm enable" : "Confirm disable",
      async () => {
        if (await act("Changing the account", () => api(`/api/v1/admin/users/${u.id}`, { method: "PATCH", json: { disabled: !u.disabled_at } })))
          flash(`${u.email} ${u.disabled_at ? "enabled" : "disabled"}.`);
        await loadUsers();
      },
      `${u.disabled_at ? "Enable" : "Disable"} ${u.email}`,
    );
    const unlock = locked ? el("button", { type: "button", class: "quiet", "aria-label": `Unlock ${u.email}`, text: "Unlock" }) : null;
    unlock?.addEventListener("click", async () => {
      if (await act("Unlocking", () => api(`/api/v1/admin/users/${u.id}/unlock`, { method: "POST" }))) flash(`${u.email} can sign in again.`);
      await loadUsers();
    });
    // A new random password, shown once; the user's sessions end (POST …/password without a body password).
    const reset = armed(
      "Set password",
      "Confirm new password",
      async () => {
        let r: { password?: string; sessions_ended: number } | undefined;
        if (await act("Setting the password", async () => (r = await api(`/api/v1/admin/users/${u.id}/password`, { method: "POST", json: {} })))) {
          flash(`New password for ${u.email} (shown once): ${r!.password} — ${r!.sessions_ended} session(s) signed out.`);
        }
        await loadUsers();
      },
      `Set a new password for ${u.email}`,
    );
    // Lost phone or key: the user sets up a new second factor at their next sign-in; their sessions end.
    const resetMfa = factors
      ? armed(
          "Reset second factor",
          "Confirm reset",
          async () => {
            if (await act("Resetting the second factor", () => api(`/api/v1/admin/users/${u.id}/mfa`, { method: "DELETE" })))
              flash(`${u.email} sets up a new second factor at their next sign-in; their sessions were ended.`);
            await loadUsers();
          },
          `Reset the second factor of ${u.email}`,
        )
      : null;
    return el(
      "tr",
      { "data-email": u.email },
      el("td", { text: u.email }),
      el("td", {}, role),
      el("td", { class: u.disabled_at || locked ? "bad" : "", text: state }),
      el("td", { text: when(u.created_at) }),
      el("td", {}, toggle, reset, resetMfa, unlock),
    );
  });
  $("#user-rows").replaceChildren(...rows);
}

$<HTMLFormElement>("#user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target as HTMLFormElement);
  let created: { user: User; password?: string } | undefined;
  if (
    await act(
      "Adding the user",
      async () => (created = await api("/api/v1/admin/users", { method: "POST", json: { email: f.get("email"), role: f.get("role") } })),
    )
  ) {
    flash(`${created!.user.email} added as ${created!.user.role}.${created!.password ? ` Password (shown once): ${created!.password}` : ""}`);
    (ev.target as HTMLFormElement).reset();
  }
  await loadUsers();
});

// ---------------- API tokens ----------------

async function loadTokens(): Promise<void> {
  const all = $<HTMLInputElement>("#show-revoked").checked;
  const tokens = await api<TokenView[]>(`/api/v1/admin/tokens?limit=1000${all ? "&include_revoked=true" : ""}`);
  const rows = tokens.map((t) => {
    const expired = t.expires_at !== null && Date.parse(t.expires_at) <= Date.now();
    const state = t.revoked_at ? "revoked" : expired ? "expired" : "active";
    const revoke = t.revoked_at
      ? null
      : armed(
          "Revoke",
          "Confirm revoke",
          async () => {
            if (await act("Revoking", () => api(`/api/v1/admin/tokens/${t.id}`, { method: "DELETE" }))) flash(`Token “${t.name}” revoked: it no longer works.`);
            await loadTokens();
          },
          `Revoke token ${t.name}`,
        );
    return el(
      "tr",
      { "data-token": t.name },
      el("td", { text: t.name }),
      el("td", { text: t.user.email }),
      el("td", { text: t.role }),
      el("td", { text: when(t.created_at) }),
      el("td", { text: t.expires_at ? when(t.expires_at) : "never" }),
      el("td", { text: when(t.last_used_at) }),
      el("td", { class: state === "active" ? "" : "bad", text: state }),
      el("td", {}, revoke),
    );
  });
  $("#token-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 8, class: "empty", text: "No tokens." }))]));
}

$<HTMLFormElement>("#token-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const f = new FormData(form);
  const body: Record<string, unknown> = { email: f.get("email"), name: f.get("name") };
  if (f.get("role")) body.role = f.get("role");
  body.ttl_seconds = f.get("never") ? null : Math.round(Number(f.get("days")) * 86_400);
  let created: { token: string; name: string; role: Role } | undefined;
  if (await act("Creating the token", async () => (created = await api("/api/v1/admin/tokens", { method: "POST", json: body })))) {
    $("#new-token").hidden = false;
    $("#new-token-value").textContent = created!.token;
    flash(`Token “${created!.name}” created with the ${created!.role} role.`);
    form.reset();
  }
  await loadTokens();
});
$("#show-revoked").addEventListener("change", () => void loadTokens());

// ---------------- invites ----------------

async function loadInvites(): Promise<void> {
  const invites = await api<InviteView[]>("/api/v1/invites?state=all&limit=200");
  const rows = invites.map((i) =>
    el(
      "tr",
      { "data-invite": i.id },
      el("td", { text: i.role }),
      el("td", { text: i.note }),
      el("td", { text: i.state }),
      el("td", { text: when(i.created_at) }),
      el("td", { text: when(i.expires_at) }),
      el(
        "td",
        {},
        i.state === "open" || i.state === "used"
          ? armed(
              "Revoke",
              "Confirm revoke",
              async () => {
                if (await act("Revoking the invite", () => api(`/api/v1/invites/${i.id}`, { method: "DELETE" })))
                  flash(i.state === "used" ? "Invite revoked; the account it made is signed out and disabled." : "Invite revoked.");
                await loadInvites();
              },
              `Revoke invite ${i.note || i.id}`,
            )
          : null,
      ),
    ),
  );
  $("#invite-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No invites." }))]));
}

$<HTMLFormElement>("#invite-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const f = new FormData(form);
  let created: { url: string } | undefined;
  const json = { role: f.get("role"), ttl_seconds: Math.round(Number(f.get("hours")) * 3600), ...(f.get("note") ? { note: f.get("note") } : {}) };
  if (await act("Creating the invite", async () => (created = await api("/api/v1/invites", { method: "POST", json })))) {
    $("#new-invite").hidden = false;
    $("#new-invite-url").textContent = created!.url;
    form.reset();
  }
  await loadInvites();
});

// ---------------- legal holds ----------------

async function loadHolds(): Promise<void> {
  const holds = await api<HoldView[]>("/api/v1/admin/holds");
  const rows = holds.map((h) => {
    const path = h.stream_id ? `/api/v1/streams/${h.stream_id}/hold` : `/api/v1/items/${h.item_id}/hold`;
    return el(
      "tr",
      { "data-hold": h.id },
      el("td", { text: h.stream_id ? `stream ${h.stream_id}` : `item ${h.item_id}` }),
      el("td", { text: h.reason }),
      el("td", { text: when(h.placed_at) }),
      el(
        "td",
        {},
        armed(
          "Release",
          "Confirm release",
          async () => {
            if (await act("Releasing the hold", () => api(path, { method: "DELETE" }))) flash("Hold released; the record stays in the audit trail.");
            await loadHolds();
          },
          `Release hold: ${h.reason}`,
        ),
      ),
    );
  });
  $("#hold-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No legal holds in force." }))]));
}

// ---------------- evidence packages ----------------

async function loadEvidence(): Promise<void> {
  const [key, exports] = await Promise.all([
    api<(typeof SigningKeySchema)["static"]>("/api/v1/admin/signing-key"),
    api<(typeof ExportSchema)["static"][]>("/api/v1/exports?limit=20"),
  ]);
  $("#signing-fingerprint").textContent = key.fingerprint;
  $("#signing-pem").textContent = key.public_key_pem;
  const rows = exports.map((x) =>
    el(
      "tr",
      { "data-export": x.id },
      el("td", { text: when(x.created_at) }),
      el("td", { text: x.state === "building" ? `building ${Math.round(x.progress * 100)}%` : x.state }),
      el("td", { text: String(x.streams) }),
      el("td", { text: String(x.items) }),
      el("td", { text: x.size === null ? "—" : `${(x.size / 1e6).toFixed(1)} MB` }),
      el("td", {}, x.download_url ? el("a", { href: x.download_url, download: "", text: "Download" }) : el("span", { text: x.error ?? "" })),
    ),
  );
  $("#export-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No evidence packages yet." }))]));
}

// ---------------- audit trail ----------------

function auditQuery(): string {
  const f = new FormData($<HTMLFormElement>("#audit-form"));
  const q = new URLSearchParams();
  for (const k of ["action", "actor"]) {
    const v = String(f.get(k) ?? "").trim();
    if (v) q.set(k, v);
  }
  return q.toString();
}

async function loadAudit(): Promise<void> {
  const q = auditQuery();
  const page = await api<{ entries: AuditEntry[] }>(`/api/v1/admin/audit?limit=100${q ? `&${q}` : ""}`);
  $<HTMLAnchorElement>("#export-csv").href = `/api/v1/admin/audit/export?format=csv${q ? `&${q}` : ""}`;
  $<HTMLAnchorElement>("#export-ndjson").href = `/api/v1/admin/audit/export?format=ndjson${q ? `&${q}` : ""}`;
  const rows = page.entries.map((e) =>
    el(
      "tr",
      { "data-action": e.action },
      el("td", { text: e.seq ?? "" }),
      el("td", { text: when(e.at) }),
      el("td", { text: e.actor_email ?? "system" }),
      el("td", { text: e.action }),
      el("td", { text: [e.target_type, e.target_id].filter(Boolean).join(" ") }),
      el("td", { text: e.ip ?? "" }),
      // textContent only: whatever a user typed into a title shows as text, never as markup.
      el("td", { class: "detail", text: JSON.stringify(e.detail) }),
    ),
  );
  $("#audit-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 7, class: "empty", text: "No entries." }))]));
}

$<HTMLFormElement>("#audit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void act("Loading the audit trail", loadAudit);
});

$("#verify").addEventListener("click", async () => {
  const out = $("#verify-result");
  out.textContent = "Checking…";
  await act("Verifying", async () => {
    const v = await api<{ ok: boolean; entries: number; first_bad_seq: string | null; head_hash: string | null }>("/api/v1/admin/audit/verify");
    out.dataset.state = v.ok ? "ok" : "error";
    out.textContent = v.ok
      ? `Intact: ${v.entries} entries chain together. Newest hash ${v.head_hash ?? "—"} (keep a copy elsewhere).`
      : `BROKEN at entry #${v.first_bad_seq}: it was changed, removed or inserted outside rter. ${v.entries} entries before it are intact (last good hash ${v.head_hash ?? "—"}).`;
  });
  await loadAudit();
});

// ---------------- start ----------------

async function start(user: User): Promise<void> {
  $("#login").hidden = true;
  $("#who").textContent = `${user.email} (${user.role})`;
  $("#logout").hidden = false;
  if (user.role !== "admin") {
    $("#not-admin").hidden = false;
    return;
  }
  $("#app").hidden = false;
  await Promise.all(
    [loadUsers(), loadTokens(), loadInvites(), loadHolds(), loadAudit(), loadEvidence()].map((p) =>
      p.catch((e) => flash(`Loading failed: ${e instanceof ApiError ? e.message : e}`, true)),
    ),
  );
  document.body.dataset.ready = "1";
}

$("#logout").addEventListener("click", () => void signOut());

void (async () => {
  const user = await me().catch(() => null);
  if (user) return start(user);
  $("#login").hidden = false;
  await start(await signIn($<HTMLFormElement>("#login"), $("#login-error")));
})();
