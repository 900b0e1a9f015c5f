import { parseArgs, type ParseArgsConfig } from "node:util";
import { SETTINGS } from "../core/config/settings.ts";
import { buildConfig, ConfigError, readConfigFile, type RawValues } from "../core/config/load.ts";
import type { Config } from "../core/config/config.ts";

/** A usage problem: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export const SETTING_OPTIONS: Options = Object.fromEntries([
  ...SETTINGS.map((s) => [s.flag, { type: "string" as const }]),
  ["config", { type: "string" as const }],
  ["help", { type: "boolean" as const, short: "h" }],
]);

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Strict: an unknown flag or a missing value is a one-line error naming it. */
export function parse(args: string[], extra: Options = {}): Parsed {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...SETTING_OPTIONS, ...extra }, strict: true, allowPositionals: true });
    return { values: values as Parsed["values"], positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, ""));
  }
}

export function settingFlags(values: Parsed["values"]): RawValues {
  const out: RawValues = {};
  for (const s of SETTINGS) if (typeof values[s.flag] === "string") out[s.flag] = values[s.flag] as string;
  return out;
}

export function configFileValues(values: Parsed["values"], env: RawValues): RawValues {
  const path = (values.config as string | undefined) ?? env.RTER_CONFIG;
  return path ? readConfigFile(path) : {};
}

/** flags > environment > config file > defaults, validated once, frozen. */
export function loadConfig(values: Parsed["values"], env: RawValues): Config {
  return buildConfig(settingFlags(values), env, configFileValues(values, env));
}

export { ConfigError };

export function settingsHelp(): string {
  return (
    SETTINGS.map((s) => `  --${s.flag.padEnd(22)} ${s.env.padEnd(26)} ${s.doc}${s.default ? ` (default ${s.default})` : ""}`).join("\n") +
    `\n  --${"config".padEnd(22)} ${"RTER_CONFIG".padEnd(26)} JSON file whose keys are the flag names above`
  );
}
