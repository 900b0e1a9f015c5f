import consolePage from "../../web/index.html";

/**
 * The UI pages. Bun bundles each HTML import with its scripts and styles, in development on
 * the fly and in `bun build --compile` into the executable, so no files sit beside the binary.
 */
export function webRoutes(): Record<string, unknown> {
  return { "/": consolePage };
}
