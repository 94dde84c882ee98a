import { createPublicKey } from "node:crypto";
import { ChanceryError } from "../errors.ts";

/** What policy needs to know about a public key. */
export type PublicKeyInfo =
  | { type: "ec"; curve: "P-256" | "P-384" | "P-521"; bits: number }
  | { type: "rsa"; bits: number; publicExponent: bigint }
  | { type: "ed25519"; bits: 256 }
  | { type: "ed448"; bits: 456 };

const curveNames: Record<string, "P-256" | "P-384" | "P-521"> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
};

/** Reads a DER SubjectPublicKeyInfo; throws invalid_argument for anything we do not support. */
export function describePublicKey(spkiDer: Uint8Array): PublicKeyInfo {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" });
  } catch (cause) {
    throw new ChanceryError("invalid_argument", "public key is not a valid SubjectPublicKeyInfo", { cause });
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec": {
      const curve = curveNames[details.namedCurve ?? ""];
      if (!curve)
        throw new ChanceryError("invalid_argument", `unsupported EC curve ${details.namedCurve ?? "(unnamed)"}`);
      return { type: "ec", curve, bits: curve === "P-256" ? 256 : curve === "P-384" ? 384 : 521 };
    }
    case "rsa":
      return { type: "rsa", bits: details.modulusLength ?? 0, publicExponent: details.publicExponent ?? 0n };
    case "ed25519":
      return { type: "ed25519", bits: 256 };
    case "ed448":
      return { type: "ed448", bits: 456 };
    default:
      throw new ChanceryError(
        "invalid_argument",
        `unsupported public key type ${key.asymmetricKeyType ?? "(unknown)"}`,
      );
  }
}
