import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { findSigningKey, insertSigningKeyIfNone } from "./signing-key.repository.ts";
import { keyFingerprint } from "./verify.ts";

/**
 * The appliance's Ed25519 signing key. Made once, by whichever node first needs it (the insert
 * that loses the race keeps the winner's), and kept in Postgres like the session secret, so every
 * worker signs with the same key and a restored backup keeps it. Whoever can read the database
 * can read this key: the signature proves a package came from this appliance's database, it does
 * not protect against that database's administrators.
 */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  fingerprint: string;
  createdAt: Date;
}

type Db = Kysely<DB> | Transaction<DB>;

export async function loadSigningKey(db: Db): Promise<SigningKey> {
  let row = await findSigningKey(db);
  if (!row) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    await insertSigningKeyIfNone(db, {
      private_key: privateKey.export({ type: "pkcs8", format: "der" }),
      public_key: publicKey.export({ type: "spki", format: "der" }),
    });
    row = await findSigningKey(db);
    if (!row) throw new Error("the signing key was stored but cannot be read back");
  }
  const publicKey = createPublicKey({ key: Buffer.from(row.public_key), format: "der", type: "spki" });
  return {
    privateKey: createPrivateKey({ key: Buffer.from(row.private_key), format: "der", type: "pkcs8" }),
    publicKey,
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    fingerprint: keyFingerprint(publicKey),
    createdAt: new Date(row.created_at),
  };
}

/** Ed25519 over the exact bytes: 64 bytes, what `openssl pkeyutl -verify -rawin` checks. */
export function signBytes(key: SigningKey, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, key.privateKey));
}
