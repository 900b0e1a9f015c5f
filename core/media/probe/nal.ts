/** Splitting H.264/HEVC access units into NAL units, in both framings a container may use. */

/** Annex B (start codes 00 00 01 / 00 00 00 01), as MPEG-TS carries it. */
export function* annexBNals(b: Uint8Array): Generator<Uint8Array> {
  let start = -1;
  let i = 0;
  while (i + 2 < b.length) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) {
      if (start >= 0) yield trimZeros(b.subarray(start, i));
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < b.length) yield b.subarray(start);
}

/** A four-byte start code leaves a zero at the end of the previous NAL. */
function trimZeros(n: Uint8Array): Uint8Array {
  let end = n.length;
  while (end > 0 && n[end - 1] === 0) end--;
  return n.subarray(0, end);
}

/**
 * Length-prefixed NALs (MP4 and Matroska samples, `lengthSize` from avcC/hvcC). Returns null
 * when a length runs past the sample: such a sample is malformed and the chunk is refused.
 */
export function lengthPrefixedNals(b: Uint8Array, lengthSize: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < b.length) {
    if (i + lengthSize > b.length) return null;
    let len = 0;
    for (let k = 0; k < lengthSize; k++) len = len * 256 + b[i + k]!;
    i += lengthSize;
    if (len === 0 || i + len > b.length) return null;
    out.push(b.subarray(i, i + len));
    i += len;
  }
  return out;
}
