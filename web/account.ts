// The signed-in user's own account: change the password (POST /api/v1/auth/password). The
// server holds the rules (length, common passwords) and says what is wrong; this page only
// checks that the two new entries match before sending.
import { api, ApiError, me, signIn, type User } from "./lib/api.ts";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

function ready(user: User): void {
  $("#login").hidden = true;
  $("#who").textContent = `${user.email} (${user.role})`;
  $("#password-form").hidden = false;
  document.body.dataset.ready = "1";
}

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
