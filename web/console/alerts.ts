// The alert list (top right, newest first) and what an alert does besides being listed: a short
// beep and, when the operator allowed it, a system notification. The reducer decides which events
// alert and whether the console is muted; this module only shows and sounds them.

import { $, ui } from "./context.ts";
import { focusOn } from "./focus.ts";
import { dismissAlert, dismissAllAlerts, setMuted, type Alert } from "./store.ts";

const MUTE_KEY = "rter.alerts.muted";
// A rule added over thousands of items hits all of them at once: one sound for the burst.
const QUIET_MS = 1_500;
/** Alerts shown whole while the bar is collapsed (style.css hides the rest); the head counts them all. */
export const ALERTS_SHOWN = 2;

let audio: AudioContext | null = null;
let lastSound = 0;
/** For tests and support: sounds and system notifications this page made. */
export const alertCounts = { beeps: 0, notifications: 0 };

function beep(): void {
  try {
    audio ??= new AudioContext();
    // Browsers start an AudioContext suspended until the page had a gesture; the sign-in click is one.
    void audio.resume().catch(() => {});
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
    alertCounts.beeps++;
  } catch (e) {
    console.warn("no sound", e);
  }
}

/** The effect of a new alert (the reducer asks only while not muted). */
export function notify(alert: Alert): void {
  const now = Date.now();
  if (now - lastSound < QUIET_MS) return;
  lastSound = now;
  beep();
  if (typeof Notification !== "undefined" && Notification.permission === "granted") {
    try {
      // tag: a second alert of the same event replaces the first instead of stacking.
      const n = new Notification("rter", { body: alert.text, tag: `rter-${alert.id}` });
      n.onclick = () => {
        window.focus();
        void open(alert);
      };
      alertCounts.notifications++;
    } catch (e) {
      console.warn("no system notification", e);
    }
  }
}

async function open(a: Alert): Promise<void> {
  const id = a.streamId ?? a.itemId;
  if (id) await focusOn(id);
}

function row(a: Alert): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.id = a.id;
  li.dataset.kind = a.kind;
  const text = document.createElement("button");
  text.type = "button";
  text.className = "alert-text";
  text.textContent = a.text;
  text.title = new Date(a.at).toLocaleTimeString();
  text.addEventListener("click", () => void open(a));
  const close = document.createElement("button");
  close.type = "button";
  close.className = "alert-dismiss";
  close.textContent = "×";
  close.setAttribute("aria-label", "Dismiss alert");
  close.addEventListener("click", () => {
    ui.data = dismissAlert(ui.data, a.id);
    ui.scheduleRender();
  });
  li.append(text, close);
  return li;
}

let shown: readonly Alert[] | null = null;
let expanded = false;
export function renderAlerts(): void {
  const list = ui.data.alerts;
  const mute = $("#alert-mute");
  mute.setAttribute("aria-pressed", String(ui.data.muted));
  mute.textContent = ui.data.muted ? "Sound off" : "Sound on";
  const allow = $("#alert-allow");
  allow.hidden = typeof Notification === "undefined" || Notification.permission !== "default";
  $("#alert-bar").hidden = list.length === 0;
  $("#alert-count").textContent = `${list.length} ${list.length === 1 ? "alert" : "alerts"}`;
  const more = $("#alert-more");
  more.hidden = list.length <= ALERTS_SHOWN;
  if (more.hidden) expanded = false;
  more.setAttribute("aria-expanded", String(expanded));
  more.textContent = expanded ? "Show newest only" : `Show all ${list.length}`;
  const el = $("#alert-list");
  el.toggleAttribute("data-expanded", expanded);
  if (list === shown) return;
  shown = list;
  el.replaceChildren(...list.map(row));
}

export function setupAlerts(): void {
  ui.data = setMuted(ui.data, localStorage.getItem(MUTE_KEY) === "1");
  $("#alert-mute").addEventListener("click", () => {
    ui.data = setMuted(ui.data, !ui.data.muted);
    localStorage.setItem(MUTE_KEY, ui.data.muted ? "1" : "0");
    ui.scheduleRender();
  });
  $("#alert-more").addEventListener("click", () => {
    expanded = !expanded;
    ui.scheduleRender();
  });
  $("#alert-clear").addEventListener("click", () => {
    ui.data = dismissAllAlerts(ui.data);
    ui.scheduleRender();
  });
  $("#alert-allow").addEventListener("click", async () => {
    await Notification.requestPermission().catch(() => "denied");
    ui.scheduleRender();
  });
}
