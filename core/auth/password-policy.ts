import { AppError } from "../errors.ts";
import commonList from "./common-passwords.txt" with { type: "text" };

/**
 * The one password rule, for every way a password is set (API, admin, CLI, first start):
 * 12 to 1024 characters, and not a common or predictable one. "Common" is judged against the
 * 10,000 most common passwords of real leaks, shipped inside the binary
 * (core/auth/common-passwords.txt, from scripts/common-passwords.ts): a server with no internet
 * checks the same as one with it, and no password ever leaves the process.
 * Length beats composition rules (NIST SP 800-63B §5.1.1.2): no "one digit, one symbol".
 */
export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 1024;

let common: Set<string> | null = null;
function commonPasswords(): Set<string> {
  common ??= new Set(commonList.split("\n").filter((l) => l && !l.startsWith("#")));
  return common;
}

// Runs of keys a person types without thinking; a password that is a piece of one (either way) is predictable.
const SEQUENCES = [
  "0123456789012345678901234567890",
  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
  "qwertyuiopasdfghjklzxcvbnm",
  "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
  "qazwsxedcrfvtgbyhnujmikolp",
  "azertyuiopqsdfghjklmwxcvbn",
  "qwertzuiopasdfghjklyxcvbnm",
];

const LEET: Record<string, string> = { "@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", $: "s", "5": "s", "7": "t", "+": "t" };
const stripEnds = (s: string) => s.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, "");
const unleet = (s: string) => s.replace(/[@4013!$57+]/g, (c) => LEET[c]!);

/** The plain words a dressed-up password may hide: separators dropped, digits and symbols trimmed off the ends, look-alike digits read as letters. */
function dressings(lower: string): Set<string> {
  const out = new Set<string>();
  for (const s of [lower, lower.replace(/[\s\-_.]+/g, "")]) {
    const core = stripEnds(s);
    for (const c of [s, core, unleet(s), unleet(core), stripEnds(unleet(s))]) if (c) out.add(c);
  }
  return out;
}

/** Why `password` may not be used, or null when it may. */
export function passwordProblem(password: string, context: { email?: string; current?: string } = {}): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD) return `a password needs at least ${MIN_PASSWORD} characters (a few words make a good one)`;
  if (length > MAX_PASSWORD) return `a password may have at most ${MAX_PASSWORD} characters`;
  if (/[\u0000-\u001f\u007f]/.test(password)) return "a password may not contain control characters";
  const lower = password.normalize("NFKC").toLowerCase();
  const list = commonPasswords();
  if (list.has(lower)) return "this is one of the most common passwords; choose another";
  // A common password dressed up: "Password2024!", "p@ssw0rd", "pass-word-1234", "!!dragon123456".
  for (const candidate of dressings(lower)) {
    if (candidate !== lower && list.has(candidate)) return "this is a common password with digits, symbols or spaces added; choose another";
  }
  for (const candidate of [lower, ...dressings(lower)]) {
    if (/^(.+?)\1+$/su.test(candidate)) return "a password made of one piece repeated is easy to guess";
    for (const seq of SEQUENCES) {
      if (candidate.length >= 4 && (seq.includes(candidate) || [...seq].reverse().join("").includes(candidate)))
        return "a password that is a run of keys or digits is easy to guess";
    }
  }
  // The account's own address or name, perhaps dressed up ("Jane.Doe2024!"): the first guess of anyone who knows it.
  const email = context.email?.toLowerCase() ?? "";
  const local = email.split("@")[0] ?? "";
  const names = new Set([email, local, local.replace(/[^\p{L}\d]+/gu, "")].filter((x) => x.length >= 3));
  if ([lower, ...dressings(lower)].some((c) => names.has(c))) return "a password may not be the account's own name or address";
  if (context.current !== undefined && context.current === password) return "the new password is the current one";
  return null;
}

/** Throws a 400 naming what is wrong with the password. */
export function checkPassword(password: string, context: { email?: string; current?: string } = {}): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new AppError("bad_request", problem);
}
