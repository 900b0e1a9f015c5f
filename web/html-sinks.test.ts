import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * Every API that parses a string as HTML (or runs it as code) is a place where a reporter's title,
 * an email or a guidance message could become markup in an operator's browser. The web UI builds
 * DOM nodes and sets textContent instead; this lint fails on any new such call in web/. A site that
 * only ever passes a constant may be allowed: it is listed below with its reason, and the line
 * carries a `html-sink-ok:` comment saying why, so a reviewer sees both.
 */
const SINKS: { name: string; re: RegExp }[] = [
  { name: "innerHTML/outerHTML", re: /\.(inner|outer)HTML\b/ },
  { name: "insertAdjacentHTML", re: /\binsertAdjacentHTML\s*\(/ },
  { name: "document.write", re: /\bdocument\s*\.\s*write(ln)?\s*\(/ },
  { name: "HTML parsing", re: /\b(DOMParser|parseFromString|createContextualFragment|setHTMLUnsafe|parseHTMLUnsafe)\b/ },
  { name: "iframe srcdoc", re: /\bsrcdoc\b/ },
  { name: "code from strings", re: /\beval\s*\(|\bnew\s+Function\s*\(|\bset(Timeout|Interval)\s*\(\s*["'`]/ },
  { name: "event handler attribute", re: /setAttribute\s*\(\s*["'`]on|["'`]on[a-z]+["'`]\s*:/ },
  // Leaflet renders a string content as HTML; an element built with textContent is safe.
  { name: "Leaflet content from a string", re: /\.(bindTooltip|bindPopup|setContent|setTooltipContent|setPopupContent)\s*\((?!\s*textNode\s*\()/ },
  { name: "Leaflet html option", re: /\b(divIcon|popup|tooltip)\s*\([^)]*\b(html|content)\s*:|\bhtml\s*:\s*[^,}]/ },
  { name: "Leaflet attribution", re: /\battribution\s*:\s*(?!false\b)|\b(setPrefix|addAttribution)\s*\(/ },
];

/** Constant-only sites allowed on purpose: file (under web/), a snippet of the line, and why. */
const ALLOWED: { file: string; snippet: string; why: string }[] = [];

/** The code of each line with comments blanked, so prose about a sink is not a sink. */
export function codeLines(source: string): string[] {
  let inBlock = false;
  return source.split("\n").map((line) => {
    let out = "";
    for (let i = 0; i < line.length; i++) {
      if (inBlock) {
        if (line.startsWith("*/", i)) {
          inBlock = false;
          i++;
        }
        continue;
      }
      if (line.startsWith("/*", i)) {
        inBlock = true;
        i++;
        continue;
      }
      // A line comment, but not the "//" of a URL inside a string ("https://…").
      if (line.startsWith("//", i) && line[i - 1] !== ":") break;
      out += line[i];
    }
    return out;
  });
}

export function findSinks(source: string): { line: number; sink: string; text: string }[] {
  const found: { line: number; sink: string; text: string }[] = [];
  const raw = source.split("\n");
  codeLines(source).forEach((code, i) => {
    for (const s of SINKS) if (s.re.test(code)) found.push({ line: i + 1, sink: s.name, text: raw[i]!.trim() });
  });
  return found;
}

function webSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return webSources(p);
    return /\.(ts|js)$/.test(d.name) && !d.name.endsWith(".test.ts") ? [p] : [];
  });
}

describe("HTML sinks in web/", () => {
  test("the detector sees each kind of sink and not prose about them", () => {
    const hostile = [
      "tip.innerHTML = item.title;",
      "x.outerHTML += s",
      "list.insertAdjacentHTML('beforeend', row)",
      "document.write(msg)",
      "new DOMParser().parseFromString(s, 'text/html')",
      "range.createContextualFragment(s)",
      "frame.srcdoc = s",
      "eval(code)",
      "setTimeout('go()', 10)",
      "btn.setAttribute('onclick', code)",
      "el('a', { 'onclick': code })",
      "marker.bindTooltip(m.label)",
      "marker.bindPopup(`<b>${t}</b>`)",
      "tooltip.setContent(label)",
      "L.divIcon({ className: 'x', html: label })",
      "L.tileLayer(u, { attribution: userText })",
    ];
    for (const h of hostile) expect({ h, n: findSinks(h).length }).toEqual({ h, n: 1 });
    const fine = [
      "marker.bindTooltip(textNode(m.label))",
      "// never use innerHTML here",
      "/* insertAdjacentHTML */ x.textContent = s",
      "const u = 'https://x.example/a'; span.textContent = u",
    ];
    for (const f of fine) expect({ f, found: findSinks(f) }).toEqual({ f, found: [] });
  });

  test("no file in web/ has an HTML sink outside the allow-list", () => {
    const root = import.meta.dir;
    const offending: string[] = [];
    const used = new Set<number>();
    for (const file of webSources(root)) {
      const rel = relative(root, file);
      const lines = readFileSync(file, "utf8").split("\n");
      for (const s of findSinks(lines.join("\n"))) {
        const allow = ALLOWED.findIndex((a) => a.file === rel && s.text.includes(a.snippet));
        const justified = /html-sink-ok:\s*\S/.test(lines[s.line - 1]!) || /html-sink-ok:\s*\S/.test(lines[s.line - 2] ?? "");
        if (allow >= 0 && justified) used.add(allow);
        else offending.push(`web/${rel}:${s.line} ${s.sink}: ${s.text}`);
      }
    }
    expect(offending).toEqual([]);
    // A stale allowance would quietly permit a new sink on a line that happens to match it.
    expect(ALLOWED.filter((_, i) => !used.has(i))).toEqual([]);
  });
});
