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
