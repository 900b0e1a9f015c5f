import { describe, expect, test } from "bun:test";
import { createDiskStore } from "../storage/disk.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_BATCH, hashObject, parseFixityPayload } from "./fixity.service.ts";

describe("parseFixityPayload", () => {
  test("empty = new manual run from the start", () => {
    expect(parseFixityPayload({})).toEqual({ runId: null, after: null, limit: DEFAULT_BATCH, trigger: "manual" });
    expect(parseFixityPayload(null).trigger).toBe("manual");
  });
  test("a cron payload is a scheduled run", () => {
    expect(parseFixityPayload({ _cron: { ts: "2026-11-23T10:17:00Z", backfilled: false }, trigger: "schedule" }).trigger).toBe("schedule");
  });
  test("continuation", () => {
    expect(parseFixityPayload({ run_id: "12", after: "streams/a/chunks/000001", limit: 50 })).toEqual({
      runId: "12",
      after: "streams/a/chunks/000001",
      limit: 50,
      trigger: "manual",
    });
  });
  test("refusals", () => {
    for (const bad of [{ run_id: 12 }, { run_id: "-1" }, { run_id: "1e3" }, { after: "" }, { after: 5 }, { limit: 0 }, { limit: 5_001 }, { limit: 1.5 }, [1]]) {
      expect(() => parseFixityPayload(bad)).toThrow();
    }
  });
});

describe("hashObject", () => {
  test("streams the object through SHA-256; a missing one is null", async () => {
    const store = createDiskStore(mkdtempSync(join(tmpdir(), "rter-fixity-")));
    await store.ensure();
    const put = await store.put("a/b.bin", new Uint8Array(700_000).fill(7));
    expect(await hashObject(store, "a/b.bin")).toEqual({ sha256: put.sha256, size: 700_000 });
    expect(await hashObject(store, "a/missing.bin")).toBeNull();
  });
  test("an aborted worker stops reading", async () => {
    const store = createDiskStore(mkdtempSync(join(tmpdir(), "rter-fixity-")));
    await store.ensure();
    await store.put("big.bin", new Uint8Array(2_000_000));
    const ac = new AbortController();
    ac.abort();
    await expect(hashObject(store, "big.bin", ac.signal)).rejects.toThrow(/aborted/);
  });
});
