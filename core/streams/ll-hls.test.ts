import { describe, expect, test } from "bun:test";
import { GAP_WAIT_MS } from "./cmaf-gaps.ts";
import { planList, prefixOf, reloadState, renderList, type LlPart, type LlPrefix } from "./ll-hls.ts";

const T0 = Date.parse("2026-11-28T10:00:00.000Z");

/** n parts of `dur` seconds, a key frame every `gop` parts, captured back to back from T0. */
function parts(n: number, opts: { dur?: number; gop?: number; from?: number; capture?: boolean } = {}): LlPart[] {
  const { dur = 0.25, gop = 4, from = 0, capture = true } = opts;
  return Array.from({ length: n }, (_, i) => {
    const seq = from + i;
    return {
      seq,
      duration: dur,
      independent: seq % gop === 0,
      captureStart: capture ? new Date(T0 + seq * dur * 1000) : null,
      receivedAt: new Date(T0 + seq * dur * 1000 + 100),
      late: false,
    };
  });
}
const live = (p: LlPart[], nowMs = T0 + 60_000) => planList(p, { finished: false, nowMs });
const uris = (text: string, re: RegExp) => [...text.matchAll(re)].map((m) => m[1]);

describe("grouping and numbering", () => {
  test("segments close before the first key frame after 1.5 s: 2 s segments from 0.25 s parts and a key frame each second", () => {
    const l = live(parts(20));
    expect(l.segments.map((s) => s.parts.map((e) => e.part.seq))).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14, 15],
      [16, 17, 18, 19],
    ]);
    expect(l.segments.map((s) => s.closed)).toEqual([true, true, false]);
    expect(l.segments.every((s) => s.parts[0]!.part.independent)).toBe(true);
    expect(l.targetSec).toBe(2);
    expect(l.partTargetSec).toBe(0.25);
  });

  test("a growing list never regroups what it had: every prefix's closed segments are the longer list's", () => {
    const all = parts(40, { gop: 6, dur: 0.3 });
    const full = live(all).segments.filter((s) => s.closed);
    for (let n = 1; n <= all.length; n++) {
      for (const s of live(all.slice(0, n)).segments.filter((g) => g.closed)) {
        expect(s.parts.map((e) => e.part.seq)).toEqual(full[s.msn]!.parts.map((e) => e.part.seq));
      }
    }
  });

  test("without key frames a segment still closes at 6 s", () => {
    const p = parts(40, { dur: 0.25, gop: 1000 });
    const l = live(p);
    expect(l.segments[0]!.parts.length).toBe(24);
    expect(l.segments[1]!.parts[0]!.part.independent).toBe(false);
    expect(l.targetSec).toBe(6);
  });
});

describe("the playlist text", () => {
  test("live: LL-HLS header, MAP, PDT per segment, parts only near the end, preload hint, no ENDLIST", () => {
    const text = renderList(live(parts(60)));
    const lines = text.split("\n");
    expect(lines.slice(0, 9)).toEqual([
      "#EXTM3U",
      "#EXT-X-VERSION:9",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.750",
      "#EXT-X-PART-INF:PART-TARGET=0.250",
      "#EXT-X-MEDIA-SEQUENCE:0",
      "#EXT-X-PLAYLIST-TYPE:EVENT",
      '#EXT-X-MAP:URI="init.mp4"',
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-28T10:00:00.000Z",
    ]);
    expect(uris(text, /^(segments\/\S+)$/gm)).toEqual([
      "segments/0-7.m4s",
      "segments/8-15.m4s",
      "segments/16-23.m4s",
      "segments/24-31.m4s",
      "segments/32-39.m4s",
      "segments/40-47.m4s",
      "segments/48-55.m4s",
    ]);
    // 15 s listed; parts of the segments ending after 9 s (the last 6 s = 3 target durations) and of the open one.
    const partSeqs = uris(text, /^#EXT-X-PART:DURATION=[\d.]+,URI="parts\/(\d+)\.m4s"/gm).map(Number);
    expect(partSeqs).toEqual(Array.from({ length: 60 - 32 }, (_, i) => 32 + i));
    expect(text).toContain('#EXT-X-PART:DURATION=0.250,URI="parts/32.m4s",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.250,URI="parts/33.m4s"\n');
    expect(lines.at(-2)).toBe('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="parts/60.m4s"');
    expect(text).not.toContain("#EXT-X-ENDLIST");
    expect(text).not.toContain("#EXT-X-DISCONTINUITY");
  });

  test("PDT of every segment equals the previous segment's PDT plus its EXTINF", () => {
    const text = renderList(live(parts(50, { capture: false })));
    const pdts = uris(text, /^#EXT-X-PROGRAM-DATE-TIME:(\S+)$/gm).map((d) => Date.parse(d!));
    const durs = uris(text, /^#EXTINF:([\d.]+),$/gm).map(Number);
    expect(pdts[0]).toBe(T0 + 100); // no capture time: the first part's receive time
    for (let i = 1; i < pdts.length; i++) expect(pdts[i]! - pdts[i - 1]!).toBeCloseTo(durs[i - 1]! * 1000, 3);
  });

  test("finished: VOD, every segment closed, no parts or hint, ENDLIST", () => {
    const text = renderList(planList(parts(18), { finished: true, nowMs: T0 }));
    expect(text).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
    expect(uris(text, /^(segments\/\S+)$/gm)).toEqual(["segments/0-7.m4s", "segments/8-15.m4s", "segments/16-17.m4s"]);
    expect(text).not.toContain("#EXT-X-PART");
    expect(text).not.toContain("PRELOAD-HINT");
    expect(text.trimEnd().endsWith("#EXT-X-ENDLIST")).toBe(true);
  });
});

describe("gaps and late parts", () => {
  const withGap = () => {
    const p = parts(24);
    // 9 and 10 never came (yet); 11.. were received a while ago.
    return p.filter((x) => x.seq !== 9 && x.seq !== 10);
  };

  test("a fresh gap stops the list there and the hint names the missing part", () => {
    const l = live(withGap(), T0 + 11 * 250 + 100 + GAP_WAIT_MS - 1);
    expect(l.segments.flatMap((s) => s.parts.map((e) => e.part.seq))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(l.nextSeq).toBe(9);
    expect(l.jumpAtMs).toBe(T0 + 11 * 250 + 100 + GAP_WAIT_MS);
    expect(renderList(l)).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="parts/9.m4s"');
  });

  test("an old gap is jumped with a discontinuity that starts a new segment; its PDT is the part's own", () => {
    const l = live(withGap());
    expect(l.segments.map((s) => s.parts.map((e) => e.part.seq))).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [8],
      [11, 12, 13, 14, 15, 16, 17, 18, 19],
      [20, 21, 22, 23],
    ]);
    const text = renderList(l);
    expect(text).toContain("segments/8-8.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-28T10:00:02.750Z\n");
    expect(l.nextSeq).toBe(24);
  });

  test("finished with the gap filled late: late parts in order, the other segments keep their part ranges, no discontinuity", () => {
    const liveSegs = live(withGap())
      .segments.filter((s) => s.closed)
      .map((s) => s.parts.map((e) => e.part.seq));
    const p = parts(24).map((x) => (x.seq === 9 || x.seq === 10 ? { ...x, late: true, receivedAt: new Date(T0 + 30_000) } : x));
    const l = planList(p, { finished: true, nowMs: T0 + 60_000 });
    const segs = l.segments.map((s) => s.parts.map((e) => e.part.seq));
    expect(segs).toEqual([[0, 1, 2, 3, 4, 5, 6, 7], [8], [9, 10], [11, 12, 13, 14, 15, 16, 17, 18, 19], [20, 21, 22, 23]]);
    for (const s of liveSegs) expect(segs).toContainEqual(s);
    const text = renderList(l);
    expect(text).not.toContain("#EXT-X-DISCONTINUITY");
    expect(uris(text, /^(segments\/\S+)$/gm)).toContain("segments/9-10.m4s");
    // The late part continues its predecessor's clock.
    expect(l.segments[2]!.parts[0]!.pdt.getTime()).toBe(T0 + 9 * 250);
  });

  test("finished with a part still missing: discontinuity there", () => {
    const text = renderList(planList(withGap(), { finished: true, nowMs: T0 }));
    expect(text).toContain("segments/8-8.m4s\n#EXT-X-DISCONTINUITY\n");
    expect(text.match(/#EXT-X-DISCONTINUITY/g)!.length).toBe(1);
  });
});

describe("blocking reload", () => {
  const l = live(parts(20)); // segments 0, 1 closed; 2 open with parts 16..19 (4 parts)

  test("ready when that part or anything later is listed", () => {
    expect(reloadState(l, 0, null)).toBe("ready");
    expect(reloadState(l, 1, 7)).toBe("ready");
    expect(reloadState(l, 2, 3)).toBe("ready");
    expect(reloadState(l, 2, 0)).toBe("ready");
  });

  test("waits for the next part, the open segment's end, or the next segment", () => {
    expect(reloadState(l, 2, 4)).toBe("wait");
    expect(reloadState(l, 2, null)).toBe("wait");
    expect(reloadState(l, 3, 0)).toBe("wait");
    expect(reloadState(l, 4, null)).toBe("wait");
  });

  test("more than two segments, or more parts than the advance limit, ahead is refused", () => {
    expect(reloadState(l, 5, null)).toBe("ahead");
    expect(reloadState(l, 5, 0)).toBe("ahead");
    // Part target 0.25 s: the advance part limit is 12.
    expect(reloadState(l, 2, 3 + 12)).toBe("wait");
    expect(reloadState(l, 2, 3 + 13)).toBe("ahead");
    expect(reloadState(l, 3, 13)).toBe("ahead");
  });

  test("an empty live list waits for the first part; a finished list answers at once", () => {
    const empty = live([]);
    expect(reloadState(empty, 0, 0)).toBe("wait");
    expect(reloadState(empty, 2, null)).toBe("ahead");
    expect(renderList(empty)).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="parts/0.m4s"');
    expect(reloadState(planList(parts(4), { finished: true, nowMs: T0 }), 9, 9)).toBe("ready");
  });
});

describe("continuing a live list from its closed prefix", () => {
  function rng(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** A phone's parts arriving in random order with delays and losses; `late` set as the ingest sets it. */
  function arrivals(seed: number): LlPart[] {
    const r = rng(seed);
    const gop = 2 + Math.floor(r() * 7);
    const out: LlPart[] = [];
    let at = 0;
    const planned = Array.from({ length: 120 }, (_, seq) => {
      const duration = [0.2, 0.25, 0.25, 0.3, 0.5][Math.floor(r() * 5)]!;
      at += duration;
      const lost = r() < 0.04;
      const delay = r() < 0.1 ? r() * 9000 : r() * 150;
      return {
        seq,
        duration,
        independent: seq % gop === 0 || r() < 0.05,
        capture: r() < 0.8 ? T0 + at * 1000 : null,
        arrive: lost ? null : T0 + at * 1000 + delay,
      };
    });
    for (const p of planned.filter((x) => x.arrive !== null).sort((a, b) => a.arrive! - b.arrive!)) {
      // The ingest's rule: late when the nearest non-late later part was received over the gap wait ago.
      const next = out.filter((q) => q.seq > p.seq && !q.late).sort((a, b) => a.seq - b.seq)[0];
      const late = next !== undefined && p.arrive! > next.receivedAt.getTime() + GAP_WAIT_MS;
      out.push({
        seq: p.seq,
        duration: p.duration,
        independent: p.independent,
        captureStart: p.capture === null ? null : new Date(p.capture),
        receivedAt: new Date(p.arrive!),
        late,
      });
    }
    return out;
  }

  test("at every moment, the list continued from an earlier prefix is the list built from all parts", () => {
    let compared = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const all = arrivals(seed);
      let prefix: LlPrefix | null = null;
      for (let t = T0; t <= T0 + 50_000; t += 700) {
        const present = all.filter((p) => p.receivedAt.getTime() <= t).sort((a, b) => a.seq - b.seq);
        const full = planList(present, { finished: false, nowMs: t });
        const continued = planList(present, { finished: false, nowMs: t, prefix });
        expect({ seed, t, text: renderList(continued) }).toEqual({ seed, t, text: renderList(full) });
        expect([continued.nextSeq, continued.jumpAtMs, continued.segments.length]).toEqual([full.nextSeq, full.jumpAtMs, full.segments.length]);
        prefix = prefixOf(continued, prefix);
        compared++;
      }
    }
    expect(compared).toBe(40 * 72);
  });

  test("old segments in a prefix keep only their first and last part; the recent ones all of theirs", () => {
    const list = live(parts(400));
    const prefix = prefixOf(list)!;
    expect(prefix.segments.length).toBe(49);
    expect(prefix.segments[0]!.parts.length).toBe(2);
    expect(prefix.segments.at(-1)!.parts.length).toBe(8);
    expect(prefix.nextSeq).toBe(392);
  });
});
