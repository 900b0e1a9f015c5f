import { expect, test } from "bun:test";
import { containerOf, sniffMatches } from "./container.ts";

test("content types map to containers; others are 415", () => {
  expect(containerOf("video/webm;codecs=vp8,opus")).toBe("webm");
  expect(containerOf("VIDEO/MP4")).toBe("mp4");
  expect(containerOf("video/mp2t")).toBe("mpegts");
  expect(() => containerOf("text/plain")).toThrow(/chunks must be/);
  expect(() => containerOf(null)).toThrow(/Content-Type is required/);
});

test("first bytes must match the declared container", () => {
  const ebml = new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0, 0, 0, 0, 0]);
  const mp4 = new Uint8Array([0, 0, 0, 0x20, ...new TextEncoder().encode("ftypisom")]);
  const ts = new Uint8Array(189);
  ts[0] = 0x47;
  ts[188] = 0x47;
  expect(sniffMatches("webm", ebml)).toBe(true);
  expect(sniffMatches("mp4", mp4)).toBe(true);
  expect(sniffMatches("mpegts", ts)).toBe(true);
  expect(sniffMatches("mp4", new TextEncoder().encode("hello, this is not a video"))).toBe(false);
  expect(sniffMatches("webm", mp4)).toBe(false);
  expect(sniffMatches("mp4", new Uint8Array(3))).toBe(false);
});
