import { ensureFirstAdmin } from "../core/auth/auth.service.ts";
import { buildApp } from "../app/http.ts";
import { startHttpServer } from "../core/http/server.ts";
import { edgeHeaders } from "../core/http/security-headers.ts";
import { resolveModules, startModules, type Opened, type StartedNode } from "../app/modules.ts";
import { ROLES } from "../core/config/settings.ts";
import { describeConfig } from "../core/config/load.ts";
import { configFileValues, loadConfig, parse, settingFlags, settingsHelp } from "./args.ts";
import { makeNode } from "./context.ts";

export const SERVE_HELP = `Usage: rter serve [--roles api,worker,web] [--port N] [options]

Runs the appliance. Roles (default all): api = HTTP API, web = UI pages, worker = media jobs.
  --list-roles      print each role and the modules it starts, then exit
  --verify-config   validate the configuration and exit (0 when valid)
  --print-config    print every setting, its value (secrets redacted) and its source, then exit

Settings (flag, environment, meaning):
${settingsHelp()}`;

export async function serve(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(args, {
    "list-roles": { type: "boolean" },
    "verify-config": { type: "boolean" },
    "print-config": { type: "boolean" },
  });
  if (values.help) return (console.log(SERVE_HELP), 0);
  if (values["list-roles"]) {
    for (const r of ROLES) console.log(`${r.padEnd(7)} ${resolveModules([r]).join(" -> ")}`);
    return 0;
  }
  const config = loadConfig(values, env);
  if (values["print-config"]) {
    for (const line of describeConfig(settingFlags(values), env, configFileValues(values, env))) console.log(line);
    return 0;
  }
  if (values["verify-config"]) return (console.log("configuration is valid"), 0);

  const rt = makeNode(config);
  const t0 = performance.now();
  // Health only until the modules are up (reporting each as it opens); then every route of the roles.
  const opened: Opened = {};
  let app = buildApp(rt, opened);
  const { webRoutes } = rt.has("web") ? await import("../app/web.ts") : { webRoutes: async () => ({}) };
  // HTTP first: /healthz answers and /readyz says "starting" while dependencies come up.
  const http = startHttpServer(rt, (req) => app.handle(req), await webRoutes(edgeHeaders(config).page));
  let started: StartedNode;
  try {
    started = await startModules(rt, resolveModules(config.roles), opened);
  } catch (e) {
    rt.log.error("start failed", { err: (e as Error).message });
    await http.stop();
    throw e;
  }
  app = buildApp(rt, started);
  if (started.api) {
    const admin = await ensureFirstAdmin(started.api.database.db, config.adminEmail);
    if (admin) {
      console.log(
        `\nFirst start: an admin account was created.\n  URL:      ${config.http.publicUrl}/\n  Email:    ${admin.email}\n  Password: ${admin.password}\nThis password is shown once; change it after signing in.\n${config.security.mfaRequired.includes("admin") ? "Admins need a second factor (--mfa-required): the first sign-in sets one up (an authenticator app or a passkey).\n" : ""}`,
      );
    }
  }
  rt.phase = "ready";
  rt.log.info("ready", { url: config.http.publicUrl, roles: config.roles, port: http.server.port, ms: Math.round(performance.now() - t0) });
  if (rt.has("web") || rt.has("api")) console.log(`rter ${rt.version} ready at ${config.http.publicUrl}/ (roles: ${config.roles.join(",")})`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) {
        // A repeated SIGTERM is common (timeout(1) and some supervisors signal the whole group);
        // only a second Ctrl-C means "stop waiting".
        if (signal !== "SIGINT") return;
        rt.log.warn("second interrupt: exiting now");
        process.exit(1);
      }
      stopping = true;
      rt.phase = "stopping";
      // Event streams end now, with a retry hint: they would otherwise hold the drain below (and
      // HAProxy's) for up to ten minutes. Their clients resume on another node with Last-Event-ID.
      const streams = started.api?.events.drain() ?? 0;
      rt.log.info("shutting down", { signal, eventStreamsEnded: streams });
      // In-flight requests finish; new ones are refused. Bounded so a stuck client cannot block exit.
      await Promise.race([http.stop(), Bun.sleep(config.worker.shutdownGraceMs)]);
      await started.stop();
      rt.log.info("stopped");
      resolve(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
  });
}
