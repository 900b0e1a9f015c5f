/** Thrown when a header ends before its fields do: the caller refuses the chunk. */
export class TruncatedError extends Error {}

/** MSB-first bit reader over one NAL unit / frame header, with the exp-Golomb codes of H.264/HEVC. */
export class BitReader {
  private pos = 0;
  constructor(private readonly b: Uint8Array) {}

  bit(): number {
    const byte = this.b[this.pos >> 3];
    if (byte === undefined) throw new TruncatedError("header ends early");
    const v = (byte >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.b.length * 8) throw new TruncatedError("header ends early");
  }

  /** ue(v). Capped at 31 leading zeros: anything longer is not a sane header. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) if (++zeros > 31) throw new TruncatedError("exp-Golomb code too long");
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00) so the RBSP reads as written. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let zeros = 0;
  let needs = false;
  for (const x of nal) {
    if (zeros >= 2 && x === 3) {
      needs = true;
      break;
    }
    zeros = x === 0 ? zeros + 1 : 0;
  }
  if (!needs) return nal;
  const out = new Uint8Array(nal.length);
  let n = 0;
  zeros = 0;
  for (const x of nal) {
    if (zeros >= 2 && x === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = x;
    zeros = x === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}
