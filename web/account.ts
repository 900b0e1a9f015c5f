// The signed-in user's own account: change the password (POST /api/v1/auth/password) and manage
// passkeys (/api/v1/auth/passkeys). The server holds the rules (length, common passwords, the last
// second factor of a role that needs one) and says what is wrong; this page only checks that the
// two new passwords match before sending.
import { api, ApiError, el, me, signIn, type User } from "./lib/api.ts";
import { createPasskey, passkeysSupported } from "./lib/webauthn.ts";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

function ready(user: User): void {
  $("#login").hidden = true;
  $("#who").textContent = `${user.email} (${user.role})`;
  $("#password-form").hidden = false;
  $("#passkeys").hidden = false;
  void loadPasskeys().finally(() => (document.body.dataset.ready = "1"));
}

interface Passkey {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

function say(out: HTMLElement, text: string, state: "ok" | "error" | ""): void {
  out.textContent = text;
  out.dataset.state = state;
}

async function loadPasskeys(): Promise<void> {
  const list = $("#passkey-list");
  try {
    const keys = await api<Passkey[]>("/api/v1/auth/passkeys");
    list.replaceChildren(
      ...(keys.length === 0 ? [el("li", { text: "No passkey yet." })] : []),
      ...keys.map((k) =>
        el(
          "li",
          { "data-passkey": k.id },
          el("span", { class: "passkey-name", text: k.name }),
          ` — added ${new Date(k.created_at).toLocaleString()}, ${k.last_used_at ? `last used ${new Date(k.last_used_at).toLocaleString()}` : "not used yet"} `,
          el("button", { type: "button", "data-remove": k.id, text: "Remove" }),
        ),
      ),
    );
  } catch (e) {
    say($("#passkey-result"), e instanceof ApiError ? e.message : "Cannot reach the server", "error");
  }
}

$("#passkey-list").addEventListener("click", async (ev) => {
  const id = (ev.target as HTMLElement).closest("button")?.dataset.remove;
  if (!id) return;
  try {
    await api(`/api/v1/auth/passkeys/${encodeURIComponent(id)}`, { method: "DELETE" });
    say($("#passkey-result"), "Passkey removed.", "ok");
  } catch (e) {
    say($("#passkey-result"), e instanceof ApiError ? e.message : "Cannot reach the server", "error");
  }
  await loadPasskeys();
});

const passkeyForm = $<HTMLFormElement>("#passkey-form");
passkeyForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("#passkey-result");
  if (!passkeysSupported()) return say(out, "This browser cannot use passkeys.", "error");
  say(out, "Follow your browser's prompt…", "");
  try {
    const options = await api<Record<string, unknown>>("/api/v1/auth/passkeys/options", { method: "POST" });
    const response = await createPasskey(options);
    const name = String(new FormData(passkeyForm).get("name") ?? "").trim();
    const r = await api<{ passkey: Passkey; recovery_codes?: string[] }>("/api/v1/auth/passkeys", {
      method: "POST",
      json: { ...(name ? { name } : {}), response },
    });
    say(out, `Passkey "${r.passkey.name}" added.`, "ok");
    if (r.recovery_codes) {
      const box = $("#passkey-recovery");
      box.querySelector("ol")!.replaceChildren(...r.recovery_codes.map((c) => el("li", { text: c })));
      box.hidden = false;
    }
    passkeyForm.reset();
  } catch (e) {
    say(out, e instanceof ApiError ? e.message : e instanceof Error ? `Passkey: ${e.message}` : "Cannot reach the server", "error");
  }
  await loadPasskeys();
});

const form = $<HTMLFormElement>("#password-form");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(form);
  const out = $("#password-result");
  out.dataset.state = "";
  if (f.get("new") !== f.get("repeat")) {
    out.textContent = "The two new passwords differ.";
    out.dataset.state = "error";
    return;
  }
  try {
    const r = await api<{ sessions_ended: number }>("/api/v1/auth/password", { method: "POST", json: { current: f.get("current"), new: f.get("new") } });
    out.textContent = `Password changed. ${r.sessions_ended} other session(s) signed out.`;
    out.dataset.state = "ok";
    form.reset();
  } catch (e) {
    out.textContent = e instanceof ApiError ? e.message : "Cannot reach the server";
    out.dataset.state = "error";
  }
});

const user = await me();
if (user) ready(user);
else {
  $("#login").hidden = false;
  ready(await signIn($<HTMLFormElement>("#login"), $("#login-error")));
}
