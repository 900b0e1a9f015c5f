import { readFileSync } from "node:fs";
import path from "node:path";
import { createDiskStore } from "./disk.ts";
import { createS3Store } from "./s3.ts";
import type { ObjectStore, StorageConfig } from "./store.ts";

export type { StorageConfig } from "./store.ts";

/** Defaults for what a storage URL cannot say but S3Options needs. */
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRIES = 3;
const DEFAULT_REGION = "us-east-1";
const S3_PARAMS = new Set(["tls", "ca", "region", "timeout_ms", "retries", "object_lock"]);

export function openStore(cfg: StorageConfig): ObjectStore {
  if (cfg.kind === "file") return createDiskStore(cfg.root);
  const { kind: _kind, ...s3 } = cfg;
  return createS3Store(s3);
}

/**
 * `file:///abs/path`, `file:rel/path` (relative to dataDir), or
 * `s3://ACCESS:SECRET@host[:port]/bucket[?tls=false&ca=/abs/ca.pem&region=R&timeout_ms=N&retries=N&object_lock=true]`.
 * `ca` is read here, once: a missing or non-PEM file stops the start, not the first upload.
 * Throws a plain Error whose one-line message names the problem; the config loader prefixes the flag.
 */
export function parseStorageUrl(url: string, dataDir: string): StorageConfig {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "file") return parseFileUrl(url, dataDir);
  if (scheme === "s3") return parseS3Url(url);
  throw new Error(scheme ? `unknown scheme "${scheme}:" (use file:// or s3://)` : "expected a file:// or s3:// URL");
}

function parseFileUrl(url: string, dataDir: string): StorageConfig {
  const rest = url.slice("file:".length);
  if (rest.startsWith("//")) {
    const afterAuthority = rest.slice(2);
    const slash = afterAuthority.indexOf("/");
    const host = slash < 0 ? afterAuthority : afterAuthority.slice(0, slash);
    if (host !== "" && host !== "localhost") {
      throw new Error(`file URL must be absolute (file:///path), got host "${host}"`);
    }
    const p = slash < 0 ? "" : afterAuthority.slice(slash);
    if (p === "" || p === "/") throw new Error("file URL needs a directory path other than /");
    return { kind: "file", root: path.resolve(decode(p, "path")) };
  }
  if (rest === "") throw new Error("file URL needs a path");
  if (rest.startsWith("/")) return { kind: "file", root: path.resolve(decode(rest, "path")) };
  return { kind: "file", root: path.resolve(dataDir, decode(rest, "path")) };
}

function parseS3Url(url: string): StorageConfig {
  const m = /^s3:\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url);
  if (!m) throw new Error("malformed s3 URL (expected s3://ACCESS:SECRET@host:port/bucket)");
  const [, userinfo, hostport = "", pathname = "", query = ""] = m;

  if (!userinfo) throw new Error("s3 URL is missing credentials (s3://ACCESS:SECRET@host/bucket)");
  const colon = userinfo.indexOf(":");
  if (colon < 0) throw new Error("s3 URL credentials must be ACCESS:SECRET");
  const accessKey = decode(userinfo.slice(0, colon), "access key");
  const secretKey = decode(userinfo.slice(colon + 1), "secret key");
  if (!accessKey) throw new Error("s3 URL has an empty access key");
  if (!secretKey) throw new Error("s3 URL has an empty secret key");

  const hp = /^(\[[0-9a-f:.]+\]|[^:]+)(?::(.*))?$/i.exec(hostport);
  if (!hp?.[1]) throw new Error("s3 URL is missing a host");
  const endPoint = hp[1].replace(/^\[|\]$/g, "");
  let port: number | undefined;
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (!/^\d{1,5}$/.test(hp[2]) || port < 1 || port > 65535) throw new Error(`s3 URL has an invalid port "${hp[2]}"`);
  }

  const bucket = decode(pathname.replace(/^\/|\/$/g, ""), "bucket");
  if (!bucket) throw new Error("s3 URL is missing the bucket (s3://ACCESS:SECRET@host/bucket)");
  if (bucket.includes("/")) throw new Error(`s3 URL path must be just the bucket name, got "${bucket}"`);
  const bad = bucketProblem(bucket);
  if (bad) throw new Error(`invalid bucket name "${bucket}": ${bad}`);

  const params = new URLSearchParams(query);
  for (const k of params.keys()) {
    if (!S3_PARAMS.has(k)) throw new Error(`unknown s3 URL parameter "${k}" (known: ${[...S3_PARAMS].join(", ")})`);
  }
  const useSSL = boolParam(params.get("tls"), true);
  const ca = params.get("ca") ? readCa(params.get("ca")!, useSSL) : undefined;
  return {
    kind: "s3",
    endPoint,
    port,
    useSSL,
    ...(ca ? { ca } : {}),
    accessKey,
    secretKey,
    bucket,
    region: params.get("region") || DEFAULT_REGION,
    timeoutMs: intParam(params.get("timeout_ms"), "timeout_ms", DEFAULT_TIMEOUT_MS, 1),
    retries: intParam(params.get("retries"), "retries", DEFAULT_RETRIES, 0),
    objectLock: boolParam(params.get("object_lock"), false),
  };
}

/** The CA (PEM) that signed the server's certificate, e.g. the deployment's internal CA. */
function readCa(file: string, useSSL: boolean): string {
  if (!useSSL) throw new Error("ca needs TLS (drop tls=false)");
  if (!path.isAbsolute(file)) throw new Error(`ca must be an absolute path, got "${file}"`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read the ca file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error(`the ca file ${file} holds no PEM certificate`);
  return text;
}

/** The AWS rules (which MinIO enforces too), so a typo fails at start instead of on first upload. */
function bucketProblem(b: string): string | null {
  if (b.length < 3 || b.length > 63) return "must be 3-63 characters";
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(b)) return "use lowercase letters, digits, '.' and '-', starting and ending with a letter or digit";
  if (b.includes("..")) return "no consecutive dots";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(b)) return "must not look like an IP address";
  if (b.startsWith("xn--") || b.endsWith("-s3alias")) return "reserved prefix or suffix";
  return null;
}

function boolParam(v: string | null, dflt: boolean): boolean {
  if (v === null || v === "") return dflt;
  if (/^(true|1|yes|on)$/i.test(v)) return true;
  if (/^(false|0|no|off)$/i.test(v)) return false;
  throw new Error(`tls must be true or false, got "${v}"`);
}

function intParam(v: string | null, name: string, dflt: number, min: number): number {
  if (v === null || v === "") return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Error(`storage URL has a badly percent-encoded ${what}`);
  }
}
