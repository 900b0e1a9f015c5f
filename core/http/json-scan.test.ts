import { describe, expect, test } from "bun:test";
import { DEFAULT_JSON_LIMITS, jsonLimitsFor } from "./json-gate.ts";
import { JsonScanner, type JsonLimits } from "./json-scan.ts";

const enc = new TextEncoder();

/** Scans `body` fed in pieces of `piece` bytes (so every state is also crossed at a chunk edge). */
function scan(body: string | Uint8Array, limits: JsonLimits = DEFAULT_JSON_LIMITS, piece = 3) {
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  const s = new JsonScanner(limits);
  for (let i = 0; i < bytes.length; i += piece) {
    const r = s.push(bytes.subarray(i, i + piece));
    if (r) return r;
  }
  return s.end();
}

describe("JsonScanner", () => {
  test("accepts what JSON.parse accepts within the limits, fed in any pieces", () => {
    const good = [
      `{"email":"a@b.c","password":"x"}`,
      ` [1, -0.5, 2e10, 1E-7, 0, true, false, null, "é\\u00e9\\n\\"", {"a":[[]]}, {}] `,
      `"just a string"`,
      `-12.5e+3`,
      `{"a":{"b":{"c":[1,2,{"d":"😀"}]}}}`,
      `{"keys":"\\u005f_proto__"}`,
    ];
    for (const g of good) for (const piece of [1, 2, 7, 1000]) expect({ g, r: scan(g, DEFAULT_JSON_LIMITS, piece) }).toEqual({ g, r: null });
  });

  test("refuses every hostile shape with a precise reason, before the end of the input", () => {
    const cases: [string | Uint8Array, RegExp][] = [
      ["[".repeat(100_000) + "]".repeat(100_000), /nested deeper than 32/],
      ['{"a":'.repeat(33) + "1" + "}".repeat(33), /nested deeper than 32/],
      [`[${"1,".repeat(1000)}1]`, /more than 1000 elements/],
      [`{${Array.from({ length: 65 }, (_, i) => `"k${i}":1`).join(",")}}`, /more than 64 keys/],
      [`"${"x".repeat(16 * 1024 + 1)}"`, /string .* longer than 16384/],
      [`"${"\\u0041".repeat(16 * 1024 + 1)}"`, /string .* longer than 16384/],
      [`{"${"k".repeat(129)}":1}`, /key .* longer than 128/],
      [`{"n":1e999999}`, /too large to represent/],
      [`{"n":-1e309}`, /too large to represent/],
      [`{"n":${"9".repeat(41)}}`, /number longer than 40/],
      [`{"n":01}`, /invalid number/],
      [`{"a":1,"a":2}`, /repeats the key "a"/],
      [`{"a":1,"\\u0061":2}`, /repeats the key "a"/],
      [`{"__proto__":{"admin":true}}`, /"__proto__" is not allowed/],
      [`{"x":{"\\u005f\\u005fproto\\u005f\\u005f":1}}`, /"__proto__" is not allowed/],
      [`{"email":"a@b.c","password":`, /ends before its value is complete/],
      [`{"a":"unterminated`, /ends before its value is complete/],
      [`{"a":1}{"b":2}`, /data after the JSON value/],
      [`[1,]`, /expected a value/],
      [`{"a":1,}`, /expected a key/],
      [`{'a':1}`, /expected a key/],
      [`[tru]`, /invalid literal/],
      [`["a\u0001b"]`, /control character/],
      [`["\\x41"]`, /invalid escape/],
      [`["\\u12G4"]`, /invalid \\u escape/],
      [`[1}`, /mismatched bracket/],
      ["   ", /no JSON value/],
      [new Uint8Array([0x22, 0xff, 0xfe, 0x22]), /not valid UTF-8/],
      [new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), /not valid UTF-8/], // an encoded surrogate
      [new Uint8Array([0x22, 0x61, 0xe2, 0x82]), /not valid UTF-8/], // ends mid-character
    ];
    for (const [body, reason] of cases) {
      const r = scan(body);
      expect({ body: String(body).slice(0, 40), code: r?.code }).toEqual({ body: String(body).slice(0, 40), code: "bad_request" });
      expect(r!.message).toMatch(reason);
    }
  });

  test("work is linear: a megabyte of nesting is refused after its 33rd byte", () => {
    const s = new JsonScanner(DEFAULT_JSON_LIMITS);
    const deep = enc.encode("[".repeat(1 << 20));
    expect(s.push(deep.subarray(0, 32))).toBeNull();
    expect(s.push(deep.subarray(32))?.message).toMatch(/nested deeper/);
  });

  test("limits are per route: raw media and GETs have none, the large lists get room", () => {
    expect(jsonLimitsFor("PUT", "/api/v1/streams/x/chunks/1")).toBeNull();
    expect(jsonLimitsFor("POST", "/api/v1/items/photos")).toBeNull();
    expect(jsonLimitsFor("GET", "/api/v1/items")).toBeNull();
    expect(jsonLimitsFor("POST", "/api/v1/auth/login")).toEqual(DEFAULT_JSON_LIMITS);
    expect(jsonLimitsFor("PUT", "/api/v1/tags/fire/order")?.maxItems).toBe(5000);
    expect(jsonLimitsFor("POST", "/api/v1/streams/x/telemetry")!.maxBytes).toBeGreaterThan(DEFAULT_JSON_LIMITS.maxBytes);
  });
});
