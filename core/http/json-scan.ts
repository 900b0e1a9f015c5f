/** How much shape a JSON body may have; see jsonLimitsFor for the values per route. */
export interface JsonLimits {
  /** Largest body in bytes (413 above). */
  readonly maxBytes: number;
  /** Deepest nesting of objects and arrays. */
  readonly maxDepth: number;
  /** Most keys in one object. */
  readonly maxKeys: number;
  /** Most elements in one array. */
  readonly maxItems: number;
  /** Longest string value, in characters (an escape counts as one). */
  readonly maxStringChars: number;
  /** Longest object key, in characters. */
  readonly maxKeyChars: number;
}

/** Why a body was refused: `too_large` is a 413, `bad_request` a 400. */
export interface JsonRefusal {
  readonly code: "too_large" | "bad_request";
  readonly message: string;
}

// Scanner states. Whitespace is skipped in every state that expects a token.
const VALUE = 0; // a value must come
const ARRAY_FIRST = 1; // after '[': a value or ']'
const OBJECT_FIRST = 2; // after '{': a key or '}'
const OBJECT_KEY = 3; // after ',' in an object: a key
const COLON = 4; // after a key
const AFTER = 5; // after a value: ',' or a closer, or the end
const STRING = 6;
const ESCAPE = 7;
const HEX = 8;
const NUMBER = 9;
const LITERAL = 10;

const IS_ARRAY = 1;
const IS_OBJECT = 2;
/** A number literal longer than this is refused: no real field needs it, and it bounds Number(). */
const MAX_NUMBER_CHARS = 40;
const NUMBER_SYNTAX = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LITERALS: Record<number, Uint8Array> = {
  0x74: new TextEncoder().encode("true"),
  0x66: new TextEncoder().encode("false"),
  0x6e: new TextEncoder().encode("null"),
};
/** Keys that change an object's prototype when a parsed body is spread or assigned into another object. */
const FORBIDDEN_KEYS = new Set(["__proto__"]);

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}
function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}
function isNumberByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2b || b === 0x2e || b === 0x65 || b === 0x45;
}

/**
 * A streaming check that a body is one JSON value within `limits`, fed bytes as they arrive. Work
 * is constant per byte and memory bounded by the limits (a stack of at most maxDepth containers,
 * the keys of the open objects), so no shape of input can make it, or JSON.parse and the schema
 * validator after it, spend more than a few milliseconds: deep nesting, huge arrays and strings,
 * many keys, invalid UTF-8, numbers that overflow to Infinity, duplicate and `__proto__` keys and
 * truncated or trailing data are refused before anything parses the body. The first refusal is
 * kept; later bytes are ignored.
 */
export class JsonScanner {
  private state = VALUE;
  private depth = 0;
  private readonly kinds: Uint8Array;
  private readonly counts: number[] = [];
  private readonly keys: Set<string>[] = [];
  private readonly utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  private inKey = false;
  private chars = 0;
  private hexLeft = 0;
  private keyBytes: number[] = [];
  private number = "";
  private literal: Uint8Array | null = null;
  private literalAt = 0;
  private offset = 0;
  private refusal: JsonRefusal | null = null;

  constructor(private readonly limits: JsonLimits) {
    this.kinds = new Uint8Array(limits.maxDepth + 1);
  }

  /** Feeds the next bytes; returns the refusal once there is one. */
  push(bytes: Uint8Array): JsonRefusal | null {
    if (this.refusal) return this.refusal;
    try {
      this.utf8.decode(bytes, { stream: true });
    } catch {
      return this.refuse("bad_request", "the body is not valid UTF-8");
    }
    for (let i = 0; i < bytes.length && !this.refusal; i++, this.offset++) this.step(bytes[i]!);
    return this.refusal;
  }

  /** The body is complete: returns the refusal, or null when it is one acceptable JSON value. */
  end(): JsonRefusal | null {
    if (this.refusal) return this.refusal;
    try {
      this.utf8.decode();
    } catch {
      return this.refuse("bad_request", "the body is not valid UTF-8 (it ends inside a character)");
    }
    if (this.state === NUMBER) this.endNumber();
    if (this.refusal) return this.refusal;
    if (this.state === VALUE && this.depth === 0) return this.refuse("bad_request", "the body holds no JSON value");
    if (this.state !== AFTER || this.depth > 0) return this.refuse("bad_request", "the JSON body ends before its value is complete");
    return null;
  }

  private refuse(code: JsonRefusal["code"], message: string): JsonRefusal {
    this.refusal = { code, message };
    return this.refusal;
  }

  private fail(what: string): void {
    this.refuse("bad_request", `invalid JSON at byte ${this.offset}: ${what}`);
  }

  private step(b: number): void {
    switch (this.state) {
      case VALUE:
        if (!isWs(b)) this.startValue(b);
        return;
      case ARRAY_FIRST:
        if (isWs(b)) return;
        if (b === 0x5d) return this.close(IS_ARRAY);
        if (this.countMember()) this.startValue(b);
        return;
      case OBJECT_FIRST:
      case OBJECT_KEY:
        if (isWs(b)) return;
        if (b === 0x7d && this.state === OBJECT_FIRST) return this.close(IS_OBJECT);
        if (b !== 0x22) return this.fail("expected a key in double quotes");
        if (!this.countMember()) return;
        this.inKey = true;
        this.keyBytes = [];
        this.chars = 0;
        this.state = STRING;
        return;
      case COLON:
        if (isWs(b)) return;
        if (b !== 0x3a) return this.fail("expected ':' after a key");
        this.state = VALUE;
        return;
      case AFTER:
        return this.after(b);
      case STRING:
        return this.stringByte(b);
      case ESCAPE:
        if (this.inKey) this.keyBytes.push(b);
        if (b === 0x75) {
          this.hexLeft = 4;
          this.state = HEX;
        } else if (SIMPLE_ESCAPES.has(b)) this.state = STRING;
        else this.fail("invalid escape in a string");
        return;
      case HEX:
        if (!isHex(b)) return this.fail("invalid \\u escape in a string");
        if (this.inKey) this.keyBytes.push(b);
        if (--this.hexLeft === 0) this.state = STRING;
        return;
      case NUMBER:
        if (isNumberByte(b)) {
          if (this.number.length >= MAX_NUMBER_CHARS) return this.fail(`a number longer than ${MAX_NUMBER_CHARS} characters`);
          this.number += String.fromCharCode(b);
          return;
        }
        this.endNumber();
        if (!this.refusal) this.after(b);
        return;
      case LITERAL:
        if (b !== this.literal![this.literalAt]) return this.fail("invalid literal (expected true, false or null)");
        if (++this.literalAt === this.literal!.length) this.valueDone();
        return;
    }
  }

  private startValue(b: number): void {
    if (b === 0x7b || b === 0x5b) {
      if (this.depth >= this.limits.maxDepth) {
        this.refuse("bad_request", `the JSON body is nested deeper than ${this.limits.maxDepth} levels`);
        return;
      }
      this.depth++;
      this.kinds[this.depth] = b === 0x7b ? IS_OBJECT : IS_ARRAY;
      this.counts[this.depth] = 0;
      if (b === 0x7b) this.keys[this.depth] = new Set();
      this.state = b === 0x7b ? OBJECT_FIRST : ARRAY_FIRST;
      return;
    }
    if (b === 0x22) {
      this.inKey = false;
      this.chars = 0;
      this.state = STRING;
      return;
    }
    if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
      this.number = String.fromCharCode(b);
      this.state = NUMBER;
      return;
    }
    const lit = LITERALS[b];
    if (!lit) return this.fail("expected a value");
    this.literal = lit;
    this.literalAt = 1;
    this.state = LITERAL;
  }

  /** One more key or element in the innermost container; false (refused) past the limit. */
  private countMember(): boolean {
    const n = ++this.counts[this.depth]!;
    const isObject = this.kinds[this.depth] === IS_OBJECT;
    const max = isObject ? this.limits.maxKeys : this.limits.maxItems;
    if (n > max) {
      this.refuse("bad_request", isObject ? `a JSON object in the body has more than ${max} keys` : `a JSON array in the body has more than ${max} elements`);
      return false;
    }
    return true;
  }

  private stringByte(b: number): void {
    if (b === 0x22) return this.endString();
    if (b < 0x20) return this.fail("a control character inside a string");
    if (this.inKey) this.keyBytes.push(b);
    if (b === 0x5c) {
      this.state = ESCAPE;
      this.countChar();
      return;
    }
    // UTF-8 continuation bytes belong to the character already counted.
    if ((b & 0xc0) !== 0x80) this.countChar();
  }

  private countChar(): void {
    const max = this.inKey ? this.limits.maxKeyChars : this.limits.maxStringChars;
    if (++this.chars > max)
      this.refuse(
        "bad_request",
        this.inKey ? `a key in the JSON body is longer than ${max} characters` : `a string in the JSON body is longer than ${max} characters`,
      );
  }

  private endString(): void {
    if (!this.inKey) return this.valueDone();
    // The key is short (maxKeyChars) and already checked to be a valid JSON string: decoding it is cheap.
    const key = JSON.parse(`"${new TextDecoder().decode(new Uint8Array(this.keyBytes))}"`) as string;
    this.inKey = false;
    if (FORBIDDEN_KEYS.has(key)) return void this.refuse("bad_request", `the key "${key}" is not allowed in a JSON body`);
    const seen = this.keys[this.depth]!;
    if (seen.has(key)) return void this.refuse("bad_request", `a JSON object in the body repeats the key "${key.slice(0, 64)}"`);
    seen.add(key);
    this.state = COLON;
  }

  private endNumber(): void {
    if (!NUMBER_SYNTAX.test(this.number)) return this.fail("invalid number");
    if (!Number.isFinite(Number(this.number))) return void this.refuse("bad_request", "a number in the JSON body is too large to represent");
    this.valueDone();
  }

  private valueDone(): void {
    this.state = AFTER;
  }

  private close(kind: number): void {
    if (this.kinds[this.depth] !== kind) return this.fail("mismatched bracket");
    this.depth--;
    this.valueDone();
  }

  private after(b: number): void {
    if (isWs(b)) return;
    if (this.depth === 0) return this.fail("data after the JSON value");
    const kind = this.kinds[this.depth];
    if (b === 0x2c) {
      if (kind === IS_ARRAY) {
        if (this.countMember()) this.state = VALUE;
      } else this.state = OBJECT_KEY;
      return;
    }
    if (b === 0x5d) return this.close(IS_ARRAY);
    if (b === 0x7d) return this.close(IS_OBJECT);
    this.fail("expected ',' or a closing bracket");
  }
}
