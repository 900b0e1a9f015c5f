import { describe, expect, test } from "bun:test";
import type { OutboxEntry } from "../lib/outbox.ts";
import { nextBatch, Uploader, type Requester } from "./uploader.ts";

// The pump against an in-memory outbox, a scripted server and a clock that records the waits.

class MemoryOutbox {
  entries: OutboxEntry[] = [];
  private id = 0;
  add(e: OutboxEntry): void {
    this.entries.push({ ...e, id: ++this.id });
  }
  async all() {
    return [...this.entries];
  }
  async remove(id: number) {
    this.entries = this.entries.filter((e) => e.id !== id);
  }
}

const blob = (s: string) => new Blob([s]);
const chunk = (streamId: string, seq: number): OutboxEntry => ({
  kind: "chunk",
  streamId,
  seq,
  blob: blob(`c${seq}`),
  type: "video/iso.segment",
  start: 1_700_000_000_000 + seq * 250,
  createdAt: seq,
});
const init = (streamId: string): OutboxEntry => ({ kind: "init", streamId, blob: blob("init"), createdAt: 0 });
const finish = (streamId: string): OutboxEntry => ({ kind: "finish", streamId, createdAt: 99 });

interface Call {
  method: string;
  path: string;
  headers: Headers;
}

function harness(answer: (c: Call, n: number) => Response | Error, sleep?: (ms: number) => Promise<void>) {
  const outbox = new MemoryOutbox();
  const calls: Call[] = [];
  const sleeps: number[] = [];
  let auth = 0;
  const request: Requester = async (path, init) => {
    const c = { method: init.method ?? "GET", path, headers: new Headers(init.headers) };
    calls.push(c);
    const a = answer(c, calls.length);
    if (a instanceof Error) throw a;
    return a;
  };
  const up = new Uploader({
    outbox,
    request,
    clock: { now: () => 0, sleep: async (ms) => (sleeps.push(ms), sleep?.(ms)) },
    random: () => 0.5,
    onAuth: () => void auth++,
    onChange: () => {},
    log: () => {},
  });
  return { outbox, calls, sleeps, up, auth: () => auth };
}

const ok = () => new Response("{}", { status: 201 });

describe("uploader", () => {
  test("sends init first, then chunks by seq with their headers, then finish; the outbox ends empty", async () => {
    const h = harness(ok);
    for (const e of [init("s"), chunk("s", 0), chunk("s", 1), chunk("s", 2), chunk("s", 3), finish("s")]) h.outbox.add(e);
    await h.up.pump();
    expect(h.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "PUT /api/v1/streams/s/init",
      "PUT /api/v1/streams/s/chunks/0",
      "PUT /api/v1/streams/s/chunks/1",
      "PUT /api/v1/streams/s/chunks/2",
      "PUT /api/v1/streams/s/chunks/3",
      "POST /api/v1/streams/s/finish",
    ]);
    expect(h.calls[0]!.headers.get("content-type")).toBe("video/mp4");
    expect(h.calls[2]!.headers.get("content-type")).toBe("video/iso.segment");
    expect(h.calls[2]!.headers.get("x-chunk-start")).toBe(String(1_700_000_000_250));
    expect(h.outbox.entries).toEqual([]);
    expect(h.up.stats.sent).toBe(4);
  });

  test("offline: every entry is retried with growing backoff until the network returns, and no seq is lost", async () => {
    let online = false;
    const h = harness((_c, n) => {
      if (n === 12) online = true;
      return online ? ok() : new TypeError("Failed to fetch");
    });
    for (let i = 0; i < 5; i++) h.outbox.add(chunk("s", i));
    await h.up.pump();
    // Backoff doubles from 500 ms (jitter pinned to ×1) and stops growing at 8 s.
    expect(h.sleeps).toEqual([500, 1000, 2000, 4000]);
    expect(h.outbox.entries).toEqual([]);
    const done = h.calls.slice(11).map((c) => c.path);
    expect(done.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `/api/v1/streams/s/chunks/${i}`));
    expect(h.up.stats).toMatchObject({ sent: 5, failures: 0, online: true, queued: 0 });
  });

  test("backoff is capped at 8 s", async () => {
    let n = 0;
    const h = harness(() => (++n > 30 ? ok() : new TypeError("offline")));
    h.outbox.add(chunk("s", 0));
    await h.up.pump();
    expect(Math.max(...h.sleeps)).toBe(8000);
  });

  test("a 503 with Retry-After waits as asked before the retry; a 429 is retried too", async () => {
    const h = harness((_c, n) =>
      n === 1 ? new Response("{}", { status: 503, headers: { "retry-after": "3" } }) : n === 2 ? new Response("{}", { status: 429 }) : ok(),
    );
    h.outbox.add(chunk("s", 0));
    await h.up.pump();
    expect(h.sleeps[0]).toBe(3000);
    expect(h.calls.length).toBe(3);
    expect(h.outbox.entries).toEqual([]);
  });

  test("an identical re-upload answered 200 counts as sent; a 409 is refused once and the rest goes on", async () => {
    const h = harness((c) =>
      c.path.endsWith("/chunks/1") ? new Response(JSON.stringify({ detail: "different bytes" }), { status: 409 }) : new Response("{}", { status: 200 }),
    );
    for (let i = 0; i < 3; i++) h.outbox.add(chunk("s", i));
    await h.up.pump();
    expect(h.calls.length).toBe(3);
    expect(h.up.stats).toMatchObject({ sent: 2, rejected: 1 });
    expect(h.outbox.entries).toEqual([]);
  });

  test("401 stops the pump and keeps everything for after the sign-in", async () => {
    const h = harness(() => new Response("{}", { status: 401 }));
    for (let i = 0; i < 4; i++) h.outbox.add(chunk("s", i));
    await h.up.pump();
    expect(h.auth()).toBe(1);
    expect(h.outbox.entries.length).toBe(4);
  });

  test("batches: three at a time; a stream's init and finish wait for everything earlier of that stream, other streams pass", () => {
    const entries = [init("a"), chunk("a", 0), chunk("b", 5), chunk("b", 6), finish("b"), chunk("c", 0)].map((e, i) => ({ ...e, id: i + 1 }));
    expect(nextBatch(entries).map((e) => e.id)).toEqual([1, 3, 4]);
    expect(nextBatch(entries.slice(1)).map((e) => e.id)).toEqual([2, 3, 4]);
    expect(nextBatch(entries.slice(3), 3).map((e) => e.id)).toEqual([4, 6]);
    expect(nextBatch(entries.slice(4), 3).map((e) => e.id)).toEqual([5, 6]);
  });

  test("a chunk queued during the backoff waits for it (and is sent in the same run); the online event cuts it short", async () => {
    let online = false;
    const waits: (() => void)[] = [];
    const h = harness(
      () => (online ? ok() : new TypeError("offline")),
      () => new Promise<void>((r) => waits.push(r)),
    );
    h.outbox.add(chunk("s", 0));
    const running = h.up.pump();
    await Bun.sleep(5);
    expect(h.calls.length).toBe(1);
    expect(waits.length).toBe(1);
    h.outbox.add(chunk("s", 1));
    await h.up.pump(); // joins the running pump
    await Bun.sleep(5);
    expect(h.calls.length).toBe(1);
    online = true;
    h.up.wake(true);
    await running;
    expect(h.calls.slice(1).map((c) => c.path)).toEqual(["/api/v1/streams/s/chunks/0", "/api/v1/streams/s/chunks/1"]);
    expect(h.outbox.entries).toEqual([]);
  });

  test("an entry queued just as the pump finds the outbox empty is still sent", async () => {
    const h = harness(ok);
    const outbox = h.outbox;
    const all = outbox.all.bind(outbox);
    let first = true;
    // The second pump() arrives between the empty read and the end of the first.
    outbox.all = async () => {
      const r = await all();
      if (!r.length && first) {
        first = false;
        outbox.add(chunk("s", 7));
        void h.up.pump();
      }
      return r;
    };
    await h.up.pump();
    expect(h.calls.map((c) => c.path)).toEqual(["/api/v1/streams/s/chunks/7"]);
  });
});
