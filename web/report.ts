// The reporter's capture page: sign in (or accept an invite), one "Go live" button, camera and
// microphone sent as CMAF fragments encoded with WebCodecs (or, without WebCodecs, MediaRecorder
// chunks), kept in IndexedDB until the server has them, GPS and compass heading as telemetry, and
// the control room's guidance shown as an arrow and a message. The parts live in web/report/.

import { api, ApiError, el, request, signIn, type User } from "./lib/api.ts";
import { compass } from "./lib/geo.ts";
import { Outbox } from "./lib/outbox.ts";
import { cmafSupported, startCmafRecorder } from "./report/cmaf-recorder.ts";
import { listenForGuidance, renderGuidance, type Guidance } from "./report/guidance-view.ts";
import { startPosterLoop } from "./report/poster.ts";
import { pickMime, startClassicRecorder, type ChunkSink, type Recorder } from "./report/recorder.ts";
import { wireReportForm } from "./report/report-form.ts";
import { Sensors } from "./report/sensors.ts";
import { acceptInvite, showLogin, whoAmI } from "./report/session.ts";
import { MAX_BACKOFF_MS, Uploader } from "./report/uploader.ts";

const TELEMETRY_MS = 1_000;
const params = new URLSearchParams(location.search);
/** `/report?quality=low`: 360p at 15 fps and 450 kbit/s, for poor networks and weak phones. */
const LOW = params.get("quality") === "low";
/** `/report?capture=classic`: the MediaRecorder path even where WebCodecs exists (support, comparisons). */
const FORCE_CLASSIC = params.get("capture") === "classic";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

interface LiveMeta {
  streamId: string;
  nextSeq: number;
  /** How the stream is sent; a CMAF stream cannot be continued by another encoder session. */
  format?: "classic" | "cmaf";
}

const state = {
  user: null as User | null,
  outbox: null as unknown as Outbox,
  uploader: null as unknown as Uploader,
  live: null as LiveMeta | null,
  recording: false,
  media: null as MediaStream | null,
  recorder: null as Recorder | null,
  telemetryTimer: null as ReturnType<typeof setInterval> | null,
  stopPosters: null as (() => void) | null,
  guidance: null as Guidance | null,
  unsubscribe: null as (() => void) | null,
};

const sensors = new Sensors(() => render());

// ---------- recording ----------

/** The stream's next seq, remembered at once: a reload continues after it, never reuses it. */
function nextSeq(): number {
  const live = state.live!;
  const seq = live.nextSeq++;
  void state.outbox.setMeta("live", { ...live });
  return seq;
}

function sinkFor(live: LiveMeta): ChunkSink & { init(bytes: Uint8Array): Promise<void> } {
  return {
    nextSeq,
    chunk: async (seq, c) => {
      await state.outbox.add({ kind: "chunk", streamId: live.streamId, seq, blob: c.blob, type: c.type, start: c.start, createdAt: Date.now() });
      void state.uploader.pump();
    },
    init: async (bytes) => {
      await state.outbox.add({
        kind: "init",
        streamId: live.streamId,
        blob: new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "video/mp4" }),
        createdAt: Date.now(),
      });
      void state.uploader.pump();
    },
  };
}

async function createStream(): Promise<string> {
  const key = (await state.outbox.getMeta<string>("create-key")) ?? crypto.randomUUID();
  await state.outbox.setMeta("create-key", key);
  const pos = sensors.position?.coords;
  const body: Record<string, unknown> = { title: `Live at ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` };
  if (pos) Object.assign(body, { lat: pos.latitude, lng: pos.longitude });
  if (sensors.heading !== null) body.heading = Math.round(sensors.heading) % 360;
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
    await Sensors.askCompass();
    const cmaf = !FORCE_CLASSIC && (await cmafSupported(LOW));
    const mime = cmaf ? "" : pickMime();
    if (!cmaf && !mime) throw new Error("this browser cannot record video (no MediaRecorder format)");
    state.media = await navigator.mediaDevices.getUserMedia({
      video: {
        facingMode: { ideal: "environment" },
        width: { ideal: LOW ? 640 : 1280 },
        height: { ideal: LOW ? 360 : 720 },
        frameRate: { ideal: LOW ? 15 : 25, max: 30 },
      },
      audio: { echoCancellation: true, noiseSuppression: true },
    });
    $<HTMLVideoElement>("#preview").srcObject = state.media;
    sensors.start();
    const format = cmaf ? "cmaf" : "classic";
    let resumed = await state.outbox.getMeta<LiveMeta>("live");
    // A CMAF stream's decode times and init belong to the encoder session that made them: an
    // interrupted one is finished (what it sent is kept) and a new stream begins.
    if (resumed && (resumed.format === "cmaf" || format === "cmaf")) {
      await state.outbox.add({ kind: "finish", streamId: resumed.streamId, createdAt: Date.now() });
      resumed = undefined;
    }
    state.live = resumed ?? { streamId: await createStream(), nextSeq: 0, format };
    await state.outbox.setMeta("live", state.live);
    const streamId = state.live.streamId;
    state.unsubscribe?.();
    state.unsubscribe = listenForGuidance(
      streamId,
      () => state.guidance,
      (g) => {
        state.guidance = g;
        render();
      },
    );
    state.recording = true;
    const sink = sinkFor(state.live);
    state.recorder = cmaf
      ? startCmafRecorder(state.media, LOW, sink, (msg) => {
          console.error("capture", msg);
          setBadge("error", `Recording stopped: ${msg}`);
        })
      : startClassicRecorder(state.media, mime, LOW, sink);
    state.telemetryTimer = setInterval(sampleTelemetry, TELEMETRY_MS);
    state.stopPosters = startPosterLoop($<HTMLVideoElement>("#preview"), {
      ready: () => !document.hidden && navigator.onLine !== false,
      send: async (jpeg) =>
        (await request(`/api/v1/streams/${streamId}/poster`, { method: "PUT", headers: { "content-type": "image/jpeg" }, body: jpeg, timeoutMs: 10_000 })).ok,
    });
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
  if (state.telemetryTimer) clearInterval(state.telemetryTimer);
  sampleTelemetry();
  await state.recorder?.stop();
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
  void state.uploader.pump();
  render();
}

function stopMedia(): void {
  state.stopPosters?.();
  state.stopPosters = null;
  state.media?.getTracks().forEach((t) => t.stop());
  state.media = null;
  sensors.stop();
}

function sampleTelemetry(): void {
  const live = state.live;
  const s = sensors.sample();
  if (!live || !s) return;
  void state.outbox.add({ kind: "telemetry", streamId: live.streamId, samples: [s], createdAt: Date.now() }).then(() => state.uploader.pump());
}

// ---------- view ----------

function setBadge(kind: string, text: string): void {
  const b = $("#state-badge");
  b.dataset.state = kind;
  b.textContent = text;
}

function render(): void {
  if (!state.outbox || !state.uploader) return;
  const up = state.uploader.stats;
  const waitingS = up.oldestWaiting === null ? 0 : Math.max(0, Math.round((Date.now() - up.oldestWaiting) / 1000));
  const offline = !navigator.onLine || !up.online;
  if (state.recording) {
    if ($("#state-badge").dataset.state === "error") {
      // An encoder failure stays on screen.
    } else if (offline) setBadge("offline", `Offline — recording, ${up.queued} chunks kept on the phone`);
    else if (waitingS > 3 || up.failures > 0) setBadge("connecting", "Live — catching up");
    else setBadge("live", "Live");
  } else if (offline) setBadge("offline", "Offline");
  else if ($("#state-badge").dataset.state !== "error") setBadge("idle", up.queued ? "Uploading what was recorded" : "Ready");
  $("#stat-connection").textContent = offline ? `offline${up.lastError ? ` (${up.lastError})` : ""}` : up.failures ? `retrying (${up.lastError})` : "online";
  $("#stat-waiting").textContent = `${waitingS} s (${up.queued} chunk${up.queued === 1 ? "" : "s"})`;
  $("#stat-sent").textContent = `${up.sent}${up.rejected ? `, ${up.rejected} refused` : ""}`;
  const rec = state.recorder;
  const gaps = rec?.gaps().slice(-30) ?? [];
  $("#stat-gap").textContent =
    rec?.format === "cmaf"
      ? "none (one continuous encoder)"
      : gaps.length
        ? `none (recorders overlap); restart ${Math.round(gaps.reduce((a, b) => a + b, 0) / gaps.length)} ms avg, ${Math.max(...gaps)} ms max`
        : "–";
  const p = sensors.position?.coords;
  $("#stat-position").textContent = p ? `${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)} ±${Math.round(p.accuracy)} m` : "–";
  $("#stat-heading").textContent = sensors.heading === null ? "no compass" : `${Math.round(sensors.heading)}° ${compass(sensors.heading)}`;
  renderGuidance(state.guidance, sensors.position, sensors.heading);
}

async function main(): Promise<void> {
  state.outbox = await Outbox.open();
  state.uploader = new Uploader({
    outbox: state.outbox,
    request,
    clock: { now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    onAuth: () => showLogin("Your session ended: sign in again to keep uploading. Nothing recorded is lost."),
    onChange: render,
  });
  state.live = (await state.outbox.getMeta<LiveMeta>("live")) ?? null;
  if (location.pathname.startsWith("/join/")) {
    const token = decodeURIComponent(location.pathname.slice("/join/".length));
    const user = token ? await acceptInvite(token) : null;
    if (user) {
      state.user = user;
      history.replaceState(null, "", "/report");
    }
  }
  state.user ??= await whoAmI(async () => (await state.outbox.all()).filter((e) => e.kind === "chunk").length);
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
  void state.uploader.pump();
  setInterval(() => void state.uploader.refresh().then(render), 1_000);
}

window.addEventListener("online", () => {
  state.uploader?.wake(true);
  void state.uploader?.pump();
  render();
});
window.addEventListener("offline", () => {
  if (state.uploader) state.uploader.stats.online = false;
  render();
});

$("#golive").addEventListener("click", () => void goLive());
$("#stop").addEventListener("click", () => void stopLive());
$("#signout").addEventListener("click", async () => {
  if (state.recording) await stopLive();
  await request("/api/v1/auth/logout", { method: "POST" }).catch(() => {});
  location.reload();
});
wireReportForm(() => sensors.position);

// Installable: manifest and a service worker that keeps this page usable without network.
document.head.append(el("link", { rel: "manifest", href: "/manifest.webmanifest" }), el("link", { rel: "icon", href: "/icon.svg", type: "image/svg+xml" }));
if ("serviceWorker" in navigator) void navigator.serviceWorker.register("/sw.js").catch(() => {});

// For tests and support: what the page is doing, in numbers.
(window as unknown as { rterReporter: unknown }).rterReporter = {
  stats: () => {
    const up = state.uploader?.stats;
    return {
      streamId: state.live?.streamId ?? null,
      recording: state.recording,
      sent: up?.sent ?? 0,
      recorded: state.recorder?.recorded() ?? 0,
      capturedMs: state.recorder?.capturedMs() ?? 0,
      rejected: up?.rejected ?? 0,
      queued: up?.queued ?? 0,
      gaps: state.recorder?.gaps() ?? [],
      mime: state.recorder?.label ?? "",
      format: state.recorder?.format ?? null,
      heading: sensors.heading,
    };
  },
};

void main();
