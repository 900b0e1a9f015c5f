import { beforeAll, describe, expect, test } from "bun:test";
import { box, concat, findType, makeCmaf, topBoxes, type CmafMedia } from "../../test/support/cmaf.ts";
import { MAX_BOXES, parseFragments, parseInit, type Failure, type FragmentsInfo, type InitInfo, type InitTrack } from "./fmp4.ts";

let media: CmafMedia;
let tracks: InitTrack[];

beforeAll(async () => {
  media = await makeCmaf({ seconds: 3, fragMs: 250 });
  const init = parseInit(media.init);
  if (!init.ok) throw new Error(init.detail);
  tracks = init.tracks;
}, 60_000);

function fragments(bytes: Uint8Array): FragmentsInfo {
  const r = parseFragments(bytes, { tracks });
  if (!r.ok) throw new Error(`${r.fault}: ${r.detail}`);
  return r;
}
function fault(r: FragmentsInfo | InitInfo | Failure): string {
  return r.ok ? "ok" : r.fault;
}
const u32 = (b: Uint8Array, p: number, v: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(p, v);
const get32 = (b: Uint8Array, p: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(p);
/** A copy of b to mutate. */
const copy = (b: Uint8Array) => b.slice();

describe("parseInit", () => {
  test("reads the tracks of ffmpeg's CMAF init", () => {
    expect(tracks.map(({ id, kind, timescale, codec }) => ({ id, kind, timescale, codec }))).toEqual([
      { id: 1, kind: "video", timescale: 15360, codec: "avc1" },
      { id: 2, kind: "audio", timescale: 48000, codec: "Opus" },
    ]);
    expect(tracks[0]!.defaults).toEqual({ duration: 0, size: 0, flags: 0 });
  });

  test("refuses what an init must not be", () => {
    const init = media.init;
    const cases: Record<string, [Uint8Array, string]> = {
      empty: [new Uint8Array(0), "missing_box"],
      "moov first": [init.slice(topBoxes(init)[1]!.start), "missing_box"],
      truncated: [init.slice(0, init.length - 10), "truncated"],
      "with a fragment": [concat(init, media.chunks[0]!), "unexpected_box"],
    };
    const noMvex = copy(init);
    noMvex.set(new TextEncoder().encode("free"), findType(noMvex, "mvex"));
    cases["no mvex"] = [noMvex, "missing_box"];
    const samples = copy(init);
    u32(samples, findType(samples, "stts") + 8, 5);
    cases["samples in stts"] = [samples, "unexpected_box"];
    const text = copy(init);
    text.set(new TextEncoder().encode("text"), findType(text, "hdlr") + 12);
    cases["a text track"] = [text, "unsupported"];
    const noTrex = copy(init);
    u32(noTrex, findType(noTrex, "trex") + 8, 7);
    cases["trex for another track"] = [noTrex, "missing_box"];
    const huge = copy(init);
    u32(huge, topBoxes(init)[1]!.start, 0x7fffffff);
    cases["moov claims 2 GB"] = [huge, "truncated"];
    for (const [name, [bytes, want]] of Object.entries(cases)) expect({ name, fault: fault(parseInit(bytes)) }).toEqual({ name, fault: want });
    for (let i = 0; i < 200; i++) expect(fault(parseInit(crypto.getRandomValues(new Uint8Array(1 + i * 20))))).not.toBe("ok");
  });

  test("containers nested 100 000 deep are refused at the depth limit, not by the stack", () => {
    const inner = nested("mdia", 100_000, box("mdhd", new Uint8Array(24)));
    const bytes = concat(box("ftyp", new Uint8Array(8)), box("moov", box("trak", inner), box("mvex")));
    const r = parseInit(bytes);
    expect(r.ok ? "ok" : r.fault).toBe("too_complex");
  });
});

describe("parseFragments on what ffmpeg made", () => {
  test("every chunk is valid, decode time continues from one to the next and adds up", () => {
    const parsed = media.chunks.map(fragments);
    expect(parsed.length).toBeGreaterThan(8);
    expect(parsed[0]!.tracks.find((t) => t.id === 1)!.firstSampleIsKey).toBe(true);
    // A key frame every second, fragments of ~0.25 s: some chunks start with one, most do not.
    expect(parsed.filter((p) => p.tracks.find((t) => t.id === 1)!.firstSampleIsKey).length).toBeGreaterThan(1);
    expect(parsed.filter((p) => !p.tracks.find((t) => t.id === 1)!.firstSampleIsKey).length).toBeGreaterThan(1);
    for (let i = 1; i < parsed.length; i++) {
      for (const t of parsed[i]!.tracks) {
        const prev = parsed[i - 1]!.tracks.find((x) => x.id === t.id)!;
        expect({ chunk: i, track: t.id, start: t.baseDecodeTime }).toEqual({ chunk: i, track: t.id, start: prev.baseDecodeTime + prev.duration });
      }
    }
    const video = parsed.map((p) => p.tracks.find((t) => t.id === 1)!);
    expect(video.reduce((n, t) => n + t.duration, 0) / 15360).toBeCloseTo(3, 1);
    expect(video.reduce((n, t) => n + t.sampleCount, 0)).toBe(90);
    // Several chunks in one upload are one continuous run.
    const all = fragments(concat(...media.chunks));
    expect(all.tracks.find((t) => t.id === 1)!.duration).toBe(video.reduce((n, t) => n + t.duration, 0));
  });

  test("styp, prft and free before the fragment, a 64-bit mdat size, and a final mdat of size 0 are fine", () => {
    const c = media.chunks[1]!;
    expect(fault(parseFragments(concat(box("styp", new TextEncoder().encode("msdhmsdh")), box("prft", new Uint8Array(20)), box("free"), c), { tracks }))).toBe(
      "ok",
    );
    const zero = copy(c);
    u32(zero, topBoxes(zero).at(-1)!.start, 0);
    expect(fault(parseFragments(zero, { tracks }))).toBe("ok");
    // The last mdat rewritten with a 16-byte header; its moof's data offset moves with it.
    const boxes = topBoxes(c);
    const [moof, mdat] = boxes.slice(-2) as [(typeof boxes)[0], (typeof boxes)[0]];
    const head = copy(c.subarray(moof.start, moof.end));
    const off = findType(head, "trun") + 12;
    u32(head, off, get32(head, off) + 8);
    const large = new Uint8Array(16);
    u32(large, 0, 1);
    large.set(new TextEncoder().encode("mdat"), 4);
    u32(large, 12, mdat.end - mdat.start + 8);
    const rewritten = concat(c.subarray(0, moof.start), head, large, c.subarray(mdat.start + 8));
    const r = fragments(rewritten);
    expect(r.tracks).toEqual(fragments(c).tracks);
  });
});

describe("parseFragments refuses hostile fragments with a precise fault", () => {
  const cases: [string, () => Uint8Array, string, RegExp?][] = [
    ["truncated mdat", () => media.chunks[1]!.slice(0, -100), "truncated", /mdat at \d+ claims \d+ bytes, \d+ remain/],
    ["truncated header", () => media.chunks[1]!.slice(0, 5), "truncated"],
    ["moof claims too much", () => sized(media.chunks[1]!, 0, 1 << 30), "truncated", /moof at 0 claims 1073741824 bytes/],
    ["moof claims too little", () => sized(media.chunks[1]!, 0, 4), "bad_size"],
    ["moof of size 0", () => sized(media.chunks[1]!, 0, 0), "bad_size"],
    ["mdat claims too little", () => sized(media.chunks[1]!, topBoxes(media.chunks[1]!)[1]!.start, 9), "data_outside_mdat"],
    ["64-bit size past the end", () => largeSize(media.chunks[1]!, 2 ** 40), "truncated"],
    ["64-bit size below the header", () => largeSize(media.chunks[1]!, 12), "bad_size"],
    ["moof without mdat", () => media.chunks[1]!.slice(0, topBoxes(media.chunks[1]!)[0]!.end), "missing_box"],
    [
      "moof then moof",
      () => {
        const b = topBoxes(media.chunks[1]!);
        return concat(media.chunks[1]!.subarray(0, b[0]!.end), media.chunks[1]!.subarray(b[2]!.start));
      },
      "missing_box",
    ],
    ["mdat alone", () => media.chunks[1]!.slice(topBoxes(media.chunks[1]!)[0]!.end), "unexpected_box"],
    ["an init instead", () => media.init, "unexpected_box"],
    ["unknown track id", () => patched(media.chunks[1]!, "tfhd", 12, 9), "unknown_track", /track 9; the init has 1, 2/],
    ["track id 0", () => patched(media.chunks[1]!, "tfhd", 12, 0), "unknown_track"],
    ["base_data_offset", () => patched(media.chunks[1]!, "tfhd", 8, 0x2003b), "unsupported"],
    [
      "tfdt going backwards",
      () => concat(media.chunks[1]!, patched(media.chunks[2]!, "tfdt", 16, 0)),
      "decode_time",
      /starts at decode time 0, the previous one ended at \d+/,
    ],
    ["a hole between fragments", () => concat(media.chunks[1]!, media.chunks[3]!), "decode_time"],
    ["mfhd sequence repeated", () => concat(media.chunks[1]!, patched(media.chunks[2]!, "mfhd", 12, 1)), "sequence"],
    ["trun data offset past the mdat", () => patched(media.chunks[1]!, "trun", 16, 1 << 20), "data_outside_mdat"],
    ["trun data offset inside the moof", () => patched(media.chunks[1]!, "trun", 16, 8), "data_outside_mdat"],
    ["a sample size that lies", () => patched(media.chunks[1]!, "trun", 24, 1 << 24), "data_outside_mdat"],
    ["a sample count that lies", () => patched(media.chunks[1]!, "trun", 12, 1 << 30), "truncated"],
    ["no tfdt", () => renamed(media.chunks[1]!, "tfdt", "free"), "missing_box"],
    ["no tfhd", () => renamed(media.chunks[1]!, "tfhd", "free"), "missing_box"],
    ["an unknown top-level box", () => concat(box("wxyz"), media.chunks[1]!), "unexpected_box"],
    ["empty", () => new Uint8Array(0), "missing_box"],
    [
      "100 000 tiny boxes",
      () => concat(...Array.from({ length: 100_000 }, () => box("free")), media.chunks[1]!),
      "too_complex",
      new RegExp(`more than ${MAX_BOXES} boxes`),
    ],
    [
      "trafs nested 100 000 deep",
      () => concat(box("moof", box("mfhd", new Uint8Array(8)), nested("traf", 100_000, box("tfhd", new Uint8Array(8)))), box("mdat")),
      "missing_box",
    ],
  ];
  for (const [name, make, want, detail] of cases) {
    test(name, () => {
      const r = parseFragments(make(), { tracks });
      expect(r.ok ? "ok" : r.fault).toBe(want);
      if (!r.ok && detail) expect(r.detail).toMatch(detail);
    });
  }

  test("random bytes and random corruptions of a real fragment never throw", () => {
    const c = media.chunks[1]!;
    let faults = 0;
    for (let i = 0; i < 2000; i++) {
      let bytes: Uint8Array;
      if (i < 200) bytes = crypto.getRandomValues(new Uint8Array(1 + ((i * 97) % 8192)));
      else {
        bytes = copy(c);
        // Corrupt a few bytes in the boxes' headers and tables, where the structure lives.
        const moofEnd = topBoxes(c)[0]!.end;
        for (let k = 0; k < 1 + (i % 4); k++) bytes[Math.floor(Math.random() * moofEnd)] = Math.floor(Math.random() * 256);
      }
      const r = parseFragments(bytes, { tracks });
      expect(typeof r.ok).toBe("boolean");
      if (!r.ok) faults++;
    }
    expect(faults).toBeGreaterThan(200);
  });
});

/** A copy with the box size at `at` set to v. */
function sized(b: Uint8Array, at: number, v: number): Uint8Array {
  const out = copy(b);
  u32(out, at, v);
  return out;
}
/** The first moof with a 64-bit size field claiming `v`. */
function largeSize(b: Uint8Array, v: number): Uint8Array {
  const head = new Uint8Array(16);
  u32(head, 0, 1);
  head.set(new TextEncoder().encode("moof"), 4);
  u32(head, 8, Math.floor(v / 2 ** 32));
  u32(head, 12, v % 2 ** 32);
  return concat(head, b.subarray(8));
}
/** A copy with the u32 at `offset` bytes from the first box of `type`'s start set to v. */
function patched(b: Uint8Array, type: string, offset: number, v: number): Uint8Array {
  const out = copy(b);
  u32(out, findType(out, type) - 4 + offset, v);
  return out;
}
function renamed(b: Uint8Array, type: string, to: string): Uint8Array {
  const out = copy(b);
  out.set(new TextEncoder().encode(to), findType(out, type));
  return out;
}

/** `depth` boxes of `type`, each inside the next, around `inner`: headers written in place (linear). */
function nested(type: string, depth: number, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(depth * 8 + inner.length);
  const t = new TextEncoder().encode(type);
  for (let i = 0; i < depth; i++) {
    u32(out, i * 8, out.length - i * 8);
    out.set(t, i * 8 + 4);
  }
  out.set(inner, depth * 8);
  return out;
}
