// The reporter's capture page: sign in (or accept an invite), one "Go live" button, camera and
// microphone recorded in self-contained 1 s chunks (a new MediaRecorder per chunk, so each one
// starts with a key frame), kept in IndexedDB until the server has them, GPS and compass heading
// as telemetry, and the control room's guidance shown as an arrow and a message.

import { api, ApiError, el, request, signIn, toError, type User } from "./lib/api.ts";
import { subscribe } from "./lib/events.ts";
import { bearing, compass, distance, formatDistance, onTarget, turn } from "./lib/geo.ts";
import { Outbox, type OutboxEntry, type TelemetrySample } from "./lib/outbox.ts";

const CHUNK_MS = 1_000;
const TELEMETRY_MS = 1_000;
const PARALLEL_UPLOADS = 3;
const MAX_BACKOFF_MS = 8_000;
/** `/report?quality=low`: 360p at 15 fps and 450 kbit/s, for poor networks and weak phones. */
const LOW = new URLSearchParams(location.search).get("quality") === "low";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

interface LiveMeta {
  streamId: string;
  nextSeq: number;
}

interface Guidance {
  lat: number | null;
  lng: number | null;
  heading: number | null;
  message: string;
}

const state = {
  user: null as User | null,
  outbox: null as unknown as Outbox,
  live: null as LiveMeta | null,
  recording: false,
  media: null as MediaStream | null,
  recorder: null as MediaRecorder | null,
  chunkTimer: null as ReturnType<typeof setInterval> | null,
  telemetryTimer: null as ReturnType<typeof setInterval> | null,
  geoWatch: null as number | null,
  position: null as GeolocationPosition | null,
  heading: null as number | null,
  mime: "",
  gaps: [] as number[],
  sent: 0,
  recorded: 0,
  recorderStartedAt: 0,
  rejected: 0,
  failures: 0,
  lastError: "",
  online: navigator.onLine,
  oldestWaiting: null as number | null,
  queued: 0,
  guidance: null as Guidance | null,
  unsubscribe: null as (() => void) | null,
};

/** Prefer H.264 in WebM/Matroska (the server copies it), else VP8/VP9. */
function pickMime(): string {
  const candidates = ["video/webm;codecs=h264,opus", "video/webm;codecs=avc1,opus", "video/x-matroska;codecs=avc1,opus", "video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"];
  return candidates.find((c) => MediaRecorder.isTypeSupported(c)) ?? "";
}

// ---------- the outbox pump: sends everything in order, retries with backoff ----------

let pumping = false;
let wake: (() => void) | null = null;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      wake = null;
      resolve();
    }, ms);
    wake = () => {
      clearTimeout(t);
      wake = null;
      resolve();
    };
  });
}

type Outcome = "done" | "retry" | "auth";

async function send(e: OutboxEntry): Promise<Outcome> {
  let res: Response;
  try {
    if (e.kind === "chunk") {
      res = await request(`/api/v1/streams/${e.streamId}/chunks/${e.seq}`, { method: "PUT", body: e.blob, headers: { "content-type": e.type, "x-chunk-start": String(e.start) }, timeoutMs: 30_000 });
    } else if (e.kind === "telemetry") {
      res = await request(`/api/v1/streams/${e.streamId}/telemetry`, { method: "POST", json: { samples: e.samples } });
    } else {
      res = await request(`/api/v1/streams/${e.streamId}/finish`, { method: "POST" });
    }
  } catch (err) {
    state.lastError = (err as Error).name === "TimeoutError" ? "upload timed out" : "network unreachable";
    state.online = false;
    return "retry";
  }
  state.online = true;
  if (res.ok) {
    if (e.kind === "chunk") state.sent++;
    return "done";
  }
  if (res.status === 401) return "auth";
  if (res.status === 429 || res.status >= 500 || res.status === 408) {
    const err = await toError(res);
    state.lastError = err.message;
    if (err.retryAfterMs) await sleep(Math.min(err.retryAfterMs, 30_000));
    return "retry";
  }
  // 400/404/409/413/415: this entry can never be accepted as it is; keep going with the rest.
  state.rejected++;
  state.lastError = `server refused ${e.kind} (${res.status})`;
  console.warn("outbox entry refused", e.kind, res.status, await res.text().catch(() => ""));
  return "done";
}

async function pump(): Promise<void> {
  if (pumping) {
    wake?.();
    return;
  }
  pumping = true;
  try {
    for (let round = 0; ; round++) {
      const entries = await state.outbox.all();
      await refreshWaiting(entries);
      if (!entries.length) break;
      // Entries of a stream go in order for "finish": it waits until nothing earlier is left.
      const batch: OutboxEntry[] = [];
      const blocked = new Set<string>();
      for (const e of entries) {
        if (batch.length >= PARALLEL_UPLOADS) break;
        if (e.kind === "finish") {
          if (!blocked.has(e.streamId) && batch.every((b) => b.streamId !== e.streamId)) batch.push(e);
          blocked.add(e.streamId);
          continue;
        }
        if (blocked.has(e.streamId)) continue;
        batch.push(e);
      }
      const outcomes = await Promise.all(
        batch.map(async (e) => {
          const o = await send(e);
          if (o === "done") await state.outbox.remove(e.id!);
          return o;
        }),
      );
      if (outcomes.includes("auth")) {
        showLogin("Your session ended: sign in again to keep uploading. Nothing recorded is lost.");
        break;
      }
      if (outcomes.includes("retry")) {
        state.failures++;
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(state.failures - 1, 5)) * (0.75 + Math.random() * 0.5);
        render();
        await sleep(delay);
      } else {
        state.failures = 0;
        state.lastError = "";
      }
    }
  } finally {
    pumping = false;
    render();
  }
}

async function refreshWaiting(entries?: OutboxEntry[]): Promise<void> {
  const all = entries ?? (await state.outbox.all());
  const chunks = all.filter((e) => e.kind === "chunk");
  state.queued = chunks.length;
  state.oldestWaiting = chunks.length ? Math.min(...chunks.map((c) => c.createdAt)) : null;
}

// ---------- recording ----------

/** Chunk writes to IndexedDB still in flight: "finish" is queued only after all of them. */
const pendingWrites = new Set<Promise<void>>();

function startRecorder(): MediaRecorder {
  const live = state.live!;
  const seq = live.nextSeq++;
  void state.outbox.setMeta("live", { ...live });
  const rec = new MediaRecorder(state.media!, { mimeType: state.mime, videoBitsPerSecond: LOW ? 450_000 : 1_200_000, audioBitsPerSecond: LOW ? 32_000 : 64_000 });
  const parts: Blob[] = [];
  rec.ondataavailable = (e) => {
    if (e.data.size) parts.push(e.data);
  };
  // The recorder takes frames from start() on: that is the chunk's capture start. How long it
  // takes to report "started" is the restart cost we show (the previous one still records then).
  const start = Date.now();
  state.recorderStartedAt = start;
  rec.onstart = () => {
    state.gaps.push(Date.now() - start);
    if (state.gaps.length > 120) state.gaps.shift();
  };
  rec.onstop = () => {
    if (!parts.length) return;
    state.recorded++;
    const blob = new Blob(parts, { type: rec.mimeType || state.mime });
    const write = state.outbox
      .add({ kind: "chunk", streamId: live.streamId, seq, blob, type: (rec.mimeType || state.mime).replace(/\s+/g, ""), start, createdAt: Date.now() })
      .then(() => void pump());
    pendingWrites.add(write);
    void write.finally(() => pendingWrites.delete(write));
  };
  rec.start();
  return rec;
}

/** Next recorder first, then stop the current one: the two overlap by a few ms, never leave a hole. */
function rotate(): void {
  if (!state.recording) return;
  const prev = state.recorder;
  state.recorder = startRecorder();
  if (prev && prev.state !== "inactive") prev.stop();
}

async function createStream(): Promise<string> {
  const key = (await state.outbox.getMeta<string>("create-key")) ?? crypto.randomUUID();
  await state.outbox.setMeta("create-key", key);
  const pos = state.position?.coords;
  const body: Record<string, unknown> = { title: `Live at ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` };
  if (pos) Object.assign(body, { lat: pos.latitude, lng: pos.longitude });
  if (state.heading !== null) body.heading = Math.round(state.heading) % 360;
  for (let attempt = 0; ; attempt++) {
    try {
      const s = await api<{ id: string }>("/api/v1/streams", { method: "POST", json: body, headers: { "idempotency-key": key } });
      await state.outbox.setMeta("create-key", null);
      return s.id;
    } catch (e) {
      if (e instanceof ApiError && e.status < 500 && e.status !== 429 && e.status !== 409) throw e;
      setBadge("connecting", "Connecting…");
      await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt)));
      if (!state.media) throw new Error("stopped");
    }
  }
}

async function goLive(): Promise<void> {
  $("#golive").setAttribute("disabled", "");
  setBadge("connecting", "Connecting…");
  try {
    // iOS asks for the compass only from a user gesture.
    const DOE = DeviceOrientationEvent as unknown as { requestPermission?: () => Promise<string> };
    if (typeof DOE.requestPermission === "function") await DOE.requestPermission().catch(() => "denied");
    state.mime = pickMime();
    if (!state.mime) throw new Error("this browser cannot record video (no MediaRecorder format)");
    state.media = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: LOW ? 640 : 1280 }, height: { ideal: LOW ? 360 : 720 }, frameRate: { ideal: LOW ? 15 : 25, max: 30 } },
      audio: { echoCancellation: true, noiseSuppression: true },
    });
    $<HTMLVideoElement>("#preview").srcObject = state.media;
    startSensors();
    const resumed = await state.outbox.getMeta<LiveMeta>("live");
    state.live = resumed ?? { streamId: await createStream(), nextSeq: 0 };
    await state.outbox.setMeta("live", state.live);
    listenForGuidance(state.live.streamId);
    state.recording = true;
    state.recorder = startRecorder();
    state.chunkTimer = setInterval(rotate, CHUNK_MS);
    state.telemetryTimer = setInterval(sampleTelemetry, TELEMETRY_MS);
    $("#golive").hidden = true;
    $("#stop").hidden = false;
    $("#stop").focus();
  } catch (e) {
    stopMedia();
    setBadge("error", (e as Error).message || "cannot start");
  } finally {
    $("#golive").removeAttribute("disabled");
    render();
  }
}

async function stopLive(): Promise<void> {
  const live = state.live;
  state.recording = false;
  if (state.chunkTimer) clearInterval(state.chunkTimer);
  if (state.telemetryTimer) clearInterval(state.telemetryTimer);
  sampleTelemetry();
  const rec = state.recorder;
  state.recorder = null;
  // A recorder stopped within moments of its start can write a file with no complete frame: give
  // the last chunk at least a few hundred milliseconds.
  const ranMs = Date.now() - state.recorderStartedAt;
  if (ranMs < 400) await new Promise((r) => setTimeout(r, 400 - ranMs));
  if (rec && rec.state !== "inactive") {
    await new Promise<void>((resolve) => {
      rec.addEventListener("stop", () => setTimeout(resolve, 0), { once: true });
      rec.stop();
    });
  }
  await Promise.allSettled([...pendingWrites]);
  stopMedia();
  if (live) {
    await state.outbox.add({ kind: "finish", streamId: live.streamId, createdAt: Date.now() });
    await state.outbox.setMeta("live", null);
  }
  state.live = null;
  state.guidance = null;
  state.unsubscribe?.();
  state.unsubscribe = null;
  $("#stop").hidden = true;
  $("#golive").hidden = false;
  $("#golive").focus();
  void pump();
  render();
}

function stopMedia(): void {
  state.media?.getTracks().forEach((t) => t.stop());
  state.media = null;
  if (state.geoWatch !== null) navigator.geolocation.clearWatch(state.geoWatch);
  state.geoWatch = null;
}

// ---------- sensors and telemetry ----------

function startSensors(): void {
  if ("geolocation" in navigator && state.geoWatch === null) {
    state.geoWatch = navigator.geolocation.watchPosition(
      (p) => {
        state.position = p;
        render();
      },
      (err) => console.warn("geolocation", err.message),
      { enableHighAccuracy: true, maximumAge: 1_000, timeout: 20_000 },
    );
  }
}

function onOrientation(e: DeviceOrientationEvent): void {
  const webkit = (e as unknown as { webkitCompassHeading?: number }).webkitCompassHeading;
  if (typeof webkit === "number") state.heading = webkit;
  else if ((e.absolute || e.type === "deviceorientationabsolute") && e.alpha !== null) state.heading = (360 - e.alpha) % 360;
  else return;
  render();
}
window.addEventListener("deviceorientationabsolute", onOrientation as EventListener);
window.addEventListener("deviceorientation", onOrientation);

function sampleTelemetry(): void {
  const live = state.live;
  const p = state.position?.coords;
  if (!live || !p) return;
  const s: TelemetrySample = { t: Date.now(), lat: p.latitude, lng: p.longitude };
  if (p.accuracy !== null && Number.isFinite(p.accuracy)) s.accuracy = Math.min(100_000, p.accuracy);
  if (state.heading !== null) s.heading = Math.round(state.heading * 10) / 10 % 360;
  if (p.speed !== null && Number.isFinite(p.speed)) s.speed = Math.min(1000, Math.max(0, p.speed));
  void state.outbox.add({ kind: "telemetry", streamId: live.streamId, samples: [s], createdAt: Date.now() }).then(() => pump());
}

// ---------- guidance ----------

function listenForGuidance(streamId: string): void {
  state.unsubscribe?.();
  state.unsubscribe = subscribe((e) => {
    if (e.data.stream_id !== streamId) return;
    if (e.type === "guidance.set") {
      state.guidance = { lat: e.data.lat ?? null, lng: e.data.lng ?? null, heading: e.data.heading ?? null, message: e.data.message ?? "" };
      render();
    } else if (e.type === "guidance.cleared") {
      state.guidance = null;
      render();
    }
  });
  void api<Guidance | null>(`/api/v1/streams/${streamId}/guidance`).then(
    (g) => {
      if (g && !state.guidance) state.guidance = g;
      render();
    },
    () => {},
  );
}

function renderGuidance(): void {
  const g = state.guidance;
  const box = $("#guidance");
  box.hidden = !g;
  if (!g) return;
  const pos = state.position?.coords;
  let wanted: number | null = g.heading;
  let detail = "";
  if (g.lat !== null && g.lng !== null) {
    if (pos) {
      const here = { lat: pos.latitude, lng: pos.longitude };
      wanted = bearing(here, { lat: g.lat, lng: g.lng });
      detail = `Target ${formatDistance(distance(here, { lat: g.lat, lng: g.lng }))} ${compass(wanted)}`;
    } else detail = "Target point set (waiting for your position)";
  } else if (wanted !== null) detail = `Point the camera ${compass(wanted)} (${Math.round(wanted)}°)`;
  const arrow = $("#arrow");
  arrow.style.display = wanted === null ? "none" : "";
  if (wanted !== null) {
    // With a compass the arrow is relative to where the camera points; without one, to north.
    const rot = state.heading === null ? wanted : turn(state.heading, wanted);
    arrow.style.transform = `rotate(${rot}deg)`;
    const ok = onTarget(state.heading, wanted);
    arrow.classList.toggle("on-target", ok);
    arrow.setAttribute("aria-label", ok ? "On target" : `Turn ${state.heading === null ? `to ${compass(wanted)}` : rot > 0 ? `right ${Math.round(rot)}°` : `left ${Math.round(-rot)}°`}`);
    if (ok) detail = `On target. ${detail}`;
  }
  $("#guidance-message").textContent = g.message;
  $("#guidance-detail").textContent = detail;
}

// ---------- view ----------

function setBadge(kind: string, text: string): void {
  const b = $("#state-badge");
  b.dataset.state = kind;
  b.textContent = text;
}

function render(): void {
  if (!state.outbox) return;
  const waitingS = state.oldestWaiting === null ? 0 : Math.max(0, Math.round((Date.now() - state.oldestWaiting) / 1000));
  const offline = !navigator.onLine || !state.online;
  if (state.recording) {
    if (offline) setBadge("offline", `Offline — recording, ${state.queued} chunks kept on the phone`);
    else if (waitingS > 3 || state.failures > 0) setBadge("connecting", "Live — catching up");
    else setBadge("live", "Live");
  } else if (offline) setBadge("offline", "Offline");
  else if ($("#state-badge").dataset.state !== "error") setBadge("idle", state.queued ? "Uploading what was recorded" : "Ready");
  $("#stat-connection").textContent = offline ? `offline${state.lastError ? ` (${state.lastError})` : ""}` : state.failures ? `retrying (${state.lastError})` : "online";
  $("#stat-waiting").textContent = `${waitingS} s (${state.queued} chunk${state.queued === 1 ? "" : "s"})`;
  $("#stat-sent").textContent = `${state.sent}${state.rejected ? `, ${state.rejected} refused` : ""}`;
  const gaps = state.gaps.slice(-30);
  $("#stat-gap").textContent = gaps.length ? `none (recorders overlap); restart ${Math.round(gaps.reduce((a, b) => a + b, 0) / gaps.length)} ms avg, ${Math.max(...gaps)} ms max` : "–";
  const p = state.position?.coords;
  $("#stat-position").textContent = p ? `${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)} ±${Math.round(p.accuracy)} m` : "–";
  $("#stat-heading").textContent = state.heading === null ? "no compass" : `${Math.round(state.heading)}° ${compass(state.heading)}`;
  renderGuidance();
}

function showLogin(message?: string): void {
  $("#login").hidden = false;
  if (message) $("#login-error").textContent = message;
}

async function acceptInvite(token: string): Promise<User | null> {
  const status = $("#join-status");
  status.hidden = false;
  status.textContent = "Opening your invite…";
  try {
    const r = await api<{ user: User }>("/api/v1/invites/accept", { method: "POST", json: { token } });
    status.hidden = true;
    return r.user;
  } catch (e) {
    status.textContent = e instanceof ApiError && e.status < 500 ? "This invite link is not valid any more. Ask the control room for a new one, or sign in." : "Cannot reach the server to open the invite; try again in a moment.";
    return null;
  }
}

/**
 * Who is signed in, by the session cookie. Offline (the page reloaded in a tunnel), the answer
 * waits for the network instead of asking for a password: the outbox stays on the phone and is
 * sent once the server answers. Only a definite "no" (401) shows the sign-in form.
 */
async function whoAmI(): Promise<User | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await request("/api/v1/auth/me", { timeoutMs: 10_000 });
      if (res.status === 200) return (await res.json()) as User;
      if (res.status === 401) return null;
    } catch {
      // Offline or unreachable: ask again below.
    }
    const queued = (await state.outbox.all()).filter((e) => e.kind === "chunk").length;
    const status = $("#join-status");
    status.hidden = false;
    status.textContent = `Offline: ${queued} recorded chunk${queued === 1 ? "" : "s"} kept on this phone, sent as soon as the network is back.`;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        window.removeEventListener("online", done);
        resolve();
      };
      const t = setTimeout(done, Math.min(10_000, 1000 * 2 ** Math.min(attempt, 4)));
      window.addEventListener("online", done);
    });
  }
}

async function main(): Promise<void> {
  state.outbox = await Outbox.open();
  state.live = (await state.outbox.getMeta<LiveMeta>("live")) ?? null;
  if (location.pathname.startsWith("/join/")) {
    const token = decodeURIComponent(location.pathname.slice("/join/".length));
    const user = token ? await acceptInvite(token) : null;
    if (user) {
      state.user = user;
      history.replaceState(null, "", "/report");
    }
  }
  state.user ??= await whoAmI();
  $("#join-status").hidden = true;
  if (!state.user) {
    showLogin();
    state.user = await signIn($<HTMLFormElement>("#login"), $("#login-error"));
  }
  $("#login").hidden = true;
  $("#who").textContent = state.user.email;
  $("#capture").hidden = false;
  if (state.live) setBadge("idle", "Interrupted stream: Go live continues it");
  render();
  void pump();
  setInterval(() => void refreshWaiting().then(render), 1_000);
}

window.addEventListener("online", () => {
  state.online = true;
  state.failures = 0;
  wake?.();
  void pump();
  render();
});
window.addEventListener("offline", () => {
  state.online = false;
  render();
});

$("#golive").addEventListener("click", () => void goLive());
$("#stop").addEventListener("click", () => void stopLive());
$("#signout").addEventListener("click", async () => {
  if (state.recording) await stopLive();
  await request("/api/v1/auth/logout", { method: "POST" }).catch(() => {});
  location.reload();
});
$<HTMLFormElement>("#report").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const text = String(data.get("text") ?? "").trim();
  const photo = data.get("photo") as File | null;
  const p = state.position?.coords;
  const status = $("#report-status");
  status.textContent = "Sending…";
  try {
    if (photo && photo.size) {
      const q = new URLSearchParams({ title: text.slice(0, 200) || "Photo" });
      if (p) q.set("lat", String(p.latitude)), q.set("lng", String(p.longitude));
      const res = await request(`/api/v1/items/photos?${q}`, { method: "POST", body: photo, headers: { "content-type": photo.type || "image/jpeg" }, timeoutMs: 60_000 });
      if (!res.ok) throw new Error(`refused (${res.status})`);
    } else if (text) {
      await api("/api/v1/items", { method: "POST", json: { kind: "text", title: text.slice(0, 120), body: text, ...(p ? { lat: p.latitude, lng: p.longitude } : {}) } });
    } else {
      status.textContent = "Write something or attach a photo first.";
      return;
    }
    form.reset();
    status.textContent = "Sent to the control room.";
  } catch (e) {
    status.textContent = `Not sent: ${(e as Error).message}`;
  }
});

// Installable: manifest and a service worker that keeps this page usable without network.
document.head.append(el("link", { rel: "manifest", href: "/manifest.webmanifest" }), el("link", { rel: "icon", href: "/icon.svg", type: "image/svg+xml" }));
if ("serviceWorker" in navigator) void navigator.serviceWorker.register("/sw.js").catch(() => {});

// For tests and support: what the page is doing, in numbers.
(window as unknown as { rterReporter: unknown }).rterReporter = {
  stats: () => ({ streamId: state.live?.streamId ?? null, recording: state.recording, sent: state.sent, recorded: state.recorded, rejected: state.rejected, queued: state.queued, gaps: [...state.gaps], mime: state.mime, heading: state.heading }),
};

void main();
