import { t } from "elysia";

/**
 * A whole number in a JSON body. Elysia turns t.Integer in a body into "integer or numeric
 * string" (elysiajs/elysia#1532), so `{"keep_days": "10"}` would pass as 10; a wrong type must be
 * a 400 like any other. t.Number with multipleOf 1 keeps JSON's own types. Query and path
 * parameters are strings on the wire and keep t.Integer's coercion.
 */
export function BodyInt(opts: Parameters<typeof t.Number>[0] = {}) {
  return t.Number({ multipleOf: 1, ...opts });
}

/** A keyset cursor "<microseconds>_<uuid>": the uuid part reaches a uuid column, so it is checked as one. */
export const UUID_CURSOR_PATTERN = "^[0-9]{1,17}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/**
 * The first query parameter (or the path) carrying a percent-encoded control character, for a
 * precise 400 before any route runs: no id, name or filter of this API holds one, and Postgres
 * refuses NUL in text (22021) only after the query was sent.
 */
export function controlCharacterIn(url: URL): string | null {
  const control = /%(?:[01][0-9a-f]|7f)/i;
  if (control.test(url.pathname)) return "the path";
  if (!control.test(url.search)) return null;
  for (const part of url.search.slice(1).split("&")) {
    if (!control.test(part)) continue;
    const key = part.split("=")[0] ?? "";
    let name = key;
    try {
      name = decodeURIComponent(key.replace(/\+/g, " "));
    } catch {}
    return `query parameter "${name.replace(/[\u0000-\u001f\u007f]/g, "?").slice(0, 64)}"`;
  }
  return "the query";
}
