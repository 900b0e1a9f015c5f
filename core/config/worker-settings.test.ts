import { describe, expect, test } from "bun:test";
import { buildConfig, ConfigError } from "./load.ts";
import { parseCronSchedule } from "./parse.ts";

describe("worker liveness, job class and fixity settings", () => {
  test("defaults: all jobs, 1 s heartbeat, dead after 5 s, hourly fixity", () => {
    const c = buildConfig({}, {});
    expect(c.worker).toMatchObject({ jobs: "all", heartbeatIntervalMs: 1_000, deadAfterMs: 5_000 });
    expect(c.fixity.schedule).toBe("17 * * * *");
  });

  test("flag and environment", () => {
    expect(buildConfig({ jobs: "live" }, { RTER_JOBS: "batch" }).worker.jobs).toBe("live");
    expect(buildConfig({}, { RTER_JOBS: "batch", RTER_FIXITY_SCHEDULE: "off" })).toMatchObject({ worker: { jobs: "batch" }, fixity: { schedule: null } });
  });

  test("bad values name the setting", () => {
    expect(() => buildConfig({ jobs: "media" }, {})).toThrow(new ConfigError('--jobs: must be live, batch or all, got "media"'));
    expect(() => buildConfig({ "fixity-schedule": "hourly" }, {})).toThrow(/^--fixity-schedule: expected a cron schedule/);
    expect(() => buildConfig({ "heartbeat-interval": "0" }, {})).toThrow(/^--heartbeat-interval/);
  });

  test("a worker is not declared dead after two missed beats", () => {
    expect(() => buildConfig({ "heartbeat-interval": "2s", "worker-dead-after": "5s" }, {})).toThrow(
      /^--worker-dead-after: must be at least 3 x --heartbeat-interval/,
    );
    expect(buildConfig({ "heartbeat-interval": "500ms", "worker-dead-after": "1500ms" }, {}).worker.deadAfterMs).toBe(1_500);
  });
});

describe("parseCronSchedule", () => {
  test("graphile-worker's grammar", () => {
    expect(parseCronSchedule("off")).toBeNull();
    expect(parseCronSchedule(" 17  *  * * * ")).toBe("17 * * * *");
    expect(parseCronSchedule("*/15 0-6,22 1 1-12 0,7")).toBe("*/15 0-6,22 1 1-12 0,7");
  });
  test("refusals", () => {
    for (const bad of [
      "",
      "* * * *",
      "* * * * * *",
      "60 * * * *",
      "* 24 * * *",
      "* * 0 * *",
      "* * * 13 *",
      "* * * * 8",
      "5-5 * * * *",
      "*/0 * * * *",
      "MON * * * *",
      "1-5/2 * * * *",
      "@hourly",
    ]) {
      expect(() => parseCronSchedule(bad)).toThrow();
    }
  });
});
