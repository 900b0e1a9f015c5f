/** A minimal server-sent-events reader for tests: collects frames until told to stop. */
export interface SseFrame {
  id?: string;
  event?: string;
  data: any;
}

export function openSse(
  url: string,
  headers: Record<string, string>,
): {
  frames: SseFrame[];
  waitFor(pred: (f: SseFrame) => boolean, ms?: number): Promise<SseFrame>;
  close(): void;
  status: Promise<number>;
  ended: Promise<void>;
} {
  const ctl = new AbortController();
  const frames: SseFrame[] = [];
  const waiters: { pred: (f: SseFrame) => boolean; resolve: (f: SseFrame) => void }[] = [];
  let resolveStatus!: (n: number) => void;
  const status = new Promise<number>((r) => (resolveStatus = r));
  // Resolves when the server ends the response (or the connection fails, or close() is called).
  const ended = (async () => {
    try {
      const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: ctl.signal });
      resolveStatus(res.status);
      if (!res.body) return;
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f: SseFrame = { data: null };
          for (const line of raw.split("\n")) {
            if (line.startsWith("id: ")) f.id = line.slice(4);
            else if (line.startsWith("event: ")) f.event = line.slice(7);
            else if (line.startsWith("data: ")) f.data = JSON.parse(line.slice(6));
          }
          if (!f.event) continue;
          frames.push(f);
          for (const w of [...waiters]) if (w.pred(f)) waiters.splice(waiters.indexOf(w), 1), w.resolve(f);
        }
      }
    } catch {
      resolveStatus(0);
    }
  })();
  return {
    frames,
    status,
    ended,
    close: () => ctl.abort(),
    waitFor(pred, ms = 10_000) {
      const hit = frames.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`no matching event within ${ms} ms; got ${JSON.stringify(frames.map((f) => f.event))}`)), ms);
      });
    },
  };
}
