import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { isoCBOR } from "@simplewebauthn/server/helpers";

/**
 * A WebAuthn authenticator in software (ES256, "none" attestation, a signature counter), for API
 * tests that need real, verifiable attestations and assertions without a browser. The Chromium
 * journey uses the browser's own virtual authenticator instead. `origin` is what the "browser"
 * reports; tests change it (or the bytes) to play an attacker.
 */
export class SoftAuthenticator {
  readonly credentialId = new Uint8Array(crypto.getRandomValues(new Uint8Array(32)));
  private readonly key: { privateKey: KeyObject; publicKey: KeyObject };
  signCount = 0;

  constructor(readonly origin: string) {
    this.key = generateKeyPairSync("ec", { namedCurve: "P-256" });
  }

  get id(): string {
    return b64url(this.credentialId);
  }

  /** The answer to navigator.credentials.create for these options (as PublicKeyCredential.toJSON gives it). */
  register(options: { challenge: string; rp: { id?: string } }, over: { origin?: string; type?: string } = {}) {
    const jwk = this.key.publicKey.export({ format: "jwk" }) as { x: string; y: string };
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, fromB64url(jwk.x)],
        [-3, fromB64url(jwk.y)],
      ]),
    );
    const idLen = new Uint8Array([this.credentialId.length >> 8, this.credentialId.length & 0xff]);
    // Flags: user present, user verified, attested credential data included.
    const authData = concat(rpIdHash(options.rp.id!), new Uint8Array([0x45]), u32(this.signCount), new Uint8Array(16), idLen, this.credentialId, cose);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", authData],
      ]) as never,
    );
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key" as const,
      response: {
        clientDataJSON: clientData(over.type ?? "webauthn.create", options.challenge, over.origin ?? this.origin),
        attestationObject: b64url(attestationObject),
        transports: ["internal"],
      },
      clientExtensionResults: {},
    };
  }

  /** The answer to navigator.credentials.get; each call raises the counter (as real authenticators do). */
  assert(options: { challenge: string; rpId?: string }, over: { origin?: string; signCount?: number } = {}) {
    this.signCount = over.signCount ?? this.signCount + 1;
    const authData = concat(rpIdHash(options.rpId!), new Uint8Array([0x05]), u32(this.signCount));
    const cdj = clientData("webauthn.get", options.challenge, over.origin ?? this.origin);
    const signed = concat(authData, createHash("sha256").update(Buffer.from(cdj, "base64url")).digest());
    const signature = sign("sha256", signed, { key: this.key.privateKey, dsaEncoding: "der" });
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key" as const,
      response: { clientDataJSON: cdj, authenticatorData: b64url(authData), signature: b64url(signature) },
      clientExtensionResults: {},
    };
  }
}

export function clientData(type: string, challenge: string, origin: string): string {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false })).toString("base64url");
}

function rpIdHash(rpId: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(rpId).digest());
}

function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) out.set(p, (i += p.length) - p.length);
  return out;
}

export const b64url = (b: Uint8Array | Buffer) => Buffer.from(b).toString("base64url");
const fromB64url = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));
