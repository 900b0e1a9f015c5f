/**
 * The line-width rule Biome's formatter cannot enforce alone (test/format.test.ts runs it).
 *
 * Biome wraps code to `lineWidth`, but it leaves two things as written: literals it cannot break
 * (a long string, template or regular expression) and comments (it never rewraps prose). So a
 * line over the width is allowed only when the literals on it are the reason: what remains of
 * the line once the literals' characters are left out fits. A long comment, or long code kept
 * by a `biome-ignore format` comment, fails.
 *
 * Widths count Unicode code points, not bytes ("…" is one column).
 */

export interface WideLine {
  /** 1-based line number. */
  line: number;
  /** The whole line's width. */
  width: number;
  /** Its width without the characters of string, template and regex literals. */
  outsideLiterals: number;
}

/** Characters that end an expression: after them `/` divides; elsewhere it starts a regex. */
const ENDS_EXPRESSION = /[\w$)\].'"`]/;
/** Keywords after which `/` starts a regex although they look like identifiers. */
const REGEX_AFTER_WORD = new Set(["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await"]);

/** [A-Za-z0-9_$]: a unit of an identifier, keyword, number or regex flag. */
function isWordUnit(u: number): boolean {
  return (u >= 97 && u <= 122) || (u >= 65 && u <= 90) || (u >= 48 && u <= 57) || u === 95 || u === 36;
}

/**
 * Marks each UTF-16 unit of a JavaScript/TypeScript source: true inside a string, template
 * (interpolations included: Biome prints a template as written) or regex literal. Comments and
 * code are false.
 */
export function literalMask(src: string): Uint8Array {
  const mask = new Uint8Array(src.length);
  /** The last significant code character and, when it ended a word, that word. */
  let prev = "";
  let prevWord = "";

  const mark = (from: number, to: number) => mask.fill(1, from, to);

  /** Skips a quoted string starting at i (the quote); returns the index after it. */
  const skipString = (at: number): number => {
    const q = src[at];
    let j = at + 1;
    while (j < src.length && src[j] !== q && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
    return Math.min(j + 1, src.length);
  };

  /** Skips a regex starting at i (the slash); returns the index after its flags. */
  const skipRegex = (at: number): number => {
    let j = at + 1;
    let inClass = false;
    while (j < src.length && src[j] !== "\n") {
      const c = src[j];
      if (c === "/" && !inClass) break;
      if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      j += c === "\\" ? 2 : 1;
    }
    j++;
    while (j < src.length && isWordUnit(src.charCodeAt(j))) j++;
    return Math.min(j, src.length);
  };

  /** Skips a template starting at i (the backtick), interpolations included; returns the index after it. */
  const skipTemplate = (at: number): number => {
    let j = at + 1;
    while (j < src.length) {
      const c = src[j];
      if (c === "\\") j += 2;
      else if (c === "`") return j + 1;
      else if (c === "$" && src[j + 1] === "{") j = skipCode(j + 2, true);
      else j++;
    }
    return src.length;
  };

  /**
   * Scans code from i. Inside an interpolation (nested) it stops after the `}` that closes it;
   * at the top level it marks literals and runs to the end.
   */
  const skipCode = (at: number, nested: boolean): number => {
    let j = at;
    let depth = 0;
    while (j < src.length) {
      const c = src[j]!;
      const next = src[j + 1];
      if (c === "/" && next === "/") {
        const end = src.indexOf("\n", j);
        j = end < 0 ? src.length : end;
      } else if (c === "/" && next === "*") {
        const end = src.indexOf("*/", j + 2);
        j = end < 0 ? src.length : end + 2;
      } else if (c === "'" || c === '"') {
        const end = skipString(j);
        if (!nested) mark(j, end);
        j = end;
        prev = c;
        prevWord = "";
      } else if (c === "`") {
        const end = skipTemplate(j);
        if (!nested) mark(j, end);
        j = end;
        prev = "`";
        prevWord = "";
      } else if (c === "/" && (!ENDS_EXPRESSION.test(prev) || REGEX_AFTER_WORD.has(prevWord))) {
        const end = skipRegex(j);
        if (!nested) mark(j, end);
        j = end;
        prev = ")"; // a regex ends an expression, like a closing parenthesis
        prevWord = "";
      } else if (isWordUnit(src.charCodeAt(j))) {
        let k = j;
        while (k < src.length && isWordUnit(src.charCodeAt(k))) k++;
        prevWord = src.slice(j, k);
        prev = src[k - 1]!;
        j = k;
      } else if (c === " " || c === "\n" || c === "\t" || c === "\r") {
        j++;
      } else {
        if (nested && c === "{") depth++;
        if (nested && c === "}") {
          if (depth === 0) return j + 1;
          depth--;
        }
        // `}` closing a block or an object: treated as ending an expression (a regex statement
        // right after a block is rare; a division after an object literal rarer still).
        prev = c;
        prevWord = "";
        j++;
      }
    }
    return j;
  };

  // A shebang line is a comment.
  const shebangEnd = src.startsWith("#!") ? src.indexOf("\n") : 0;
  skipCode(shebangEnd < 0 ? src.length : shebangEnd, false);
  return mask;
}

/** The lines wider than `width` whose excess is not made of literals, for JavaScript/TypeScript. */
export function wideLines(src: string, width: number, code = true): WideLine[] {
  const mask = code ? literalMask(src) : new Uint8Array(src.length);
  const out: WideLine[] = [];
  let start = 0;
  let n = 1;
  while (start <= src.length) {
    let end = src.indexOf("\n", start);
    if (end < 0) end = src.length;
    let total = 0;
    let outside = 0;
    for (let k = start; k < end; k++) {
      // A surrogate pair is one code point: count its first half only.
      const u = src.charCodeAt(k);
      if (u >= 0xdc00 && u <= 0xdfff) continue;
      total++;
      if (!mask[k]) outside++;
    }
    if (total > width && outside > width) out.push({ line: n, width: total, outsideLiterals: outside });
    start = end + 1;
    n++;
  }
  return out;
}
