import { t } from "elysia";

/** What navigator.credentials returns, as JSON (base64url fields): the shapes WebAuthn Level 3 toJSON() gives. */
const B64url = (maxLength: number) => t.String({ minLength: 1, maxLength, pattern: "^[A-Za-z0-9_-]+={0,2}$" });
const Transports = t.Optional(t.Array(t.String({ maxLength: 32 }), { maxItems: 8 }));
const ClientExtensions = t.Record(t.String({ maxLength: 64 }), t.Unknown());
const Attachment = t.Optional(t.Union([t.Literal("platform"), t.Literal("cross-platform")]));

export const RegistrationResponse = t.Object(
  {
    id: B64url(1024),
    rawId: B64url(1024),
    type: t.Literal("public-key"),
    response: t.Object({
      clientDataJSON: B64url(4096),
      attestationObject: B64url(16_384),
      authenticatorData: t.Optional(B64url(8192)),
      transports: Transports,
      publicKeyAlgorithm: t.Optional(t.Integer()),
      publicKey: t.Optional(B64url(8192)),
    }),
    authenticatorAttachment: Attachment,
    clientExtensionResults: ClientExtensions,
  },
  { additionalProperties: false },
);

export const AuthenticationResponse = t.Object(
  {
    id: B64url(1024),
    rawId: B64url(1024),
    type: t.Literal("public-key"),
    response: t.Object({
      clientDataJSON: B64url(4096),
      authenticatorData: B64url(8192),
      // ML-DSA (post-quantum) signatures are ~2.4-4.6 KB; Chromium offers ML-DSA-44 when the server lists it.
      signature: B64url(8192),
      userHandle: t.Optional(t.String({ maxLength: 256 })),
    }),
    authenticatorAttachment: Attachment,
    clientExtensionResults: ClientExtensions,
  },
  { additionalProperties: false },
);

const Challenge = t.String({ minLength: 1, maxLength: 100 });
const Name = t.Optional(t.String({ maxLength: 100, pattern: "^[^\\u0000-\\u001f\\u007f]*$" }));

export const AccountRegisterBody = t.Object({ name: Name, response: RegistrationResponse }, { additionalProperties: false });
export const SignInChallengeBody = t.Object({ challenge: Challenge }, { additionalProperties: false });
export const SignInRegisterBody = t.Object({ challenge: Challenge, name: Name, response: RegistrationResponse }, { additionalProperties: false });
export const SignInAssertBody = t.Object({ challenge: Challenge, response: AuthenticationResponse }, { additionalProperties: false });
/** Options for navigator.credentials.create/get, as JSON (PublicKeyCredential.parse*OptionsFromJSON). */
export const CeremonyOptions = t.Record(t.String(), t.Unknown());

export const Passkey = t.Object({
  id: t.String(),
  name: t.String(),
  created_at: t.String(),
  last_used_at: t.Union([t.String(), t.Null()]),
  device_type: t.Union([t.String(), t.Null()]),
  backed_up: t.Boolean(),
  transports: t.Array(t.String()),
});
export const PasskeyAdded = t.Object({ passkey: Passkey, recovery_codes: t.Optional(t.Array(t.String())) });
