import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChanceryError } from "../core/errors.ts";
import type { KeyAlgorithm as CoreKeyAlgorithm } from "../core/keys/key-algorithm.ts";
import { KeyAlgorithm } from "../gen/chancery/admin/v1/certificate_authority_pb.js";

const keyAlgorithms: ReadonlyArray<[KeyAlgorithm, CoreKeyAlgorithm]> = [
  [KeyAlgorithm.ECDSA_P256, "ecdsa-p256"],
  [KeyAlgorithm.ECDSA_P384, "ecdsa-p384"],
  [KeyAlgorithm.RSA_2048, "rsa-2048"],
  [KeyAlgorithm.RSA_3072, "rsa-3072"],
  [KeyAlgorithm.RSA_4096, "rsa-4096"],
  [KeyAlgorithm.ED25519, "ed25519"],
];

export function keyAlgorithmFromProto(value: KeyAlgorithm, field = "key_algorithm"): CoreKeyAlgorithm {
  const found = keyAlgorithms.find(([proto]) => proto === value);
  if (!found) throw new ChanceryError("invalid_argument", `${field} must be set to a supported key algorithm`);
  return found[1];
}

export function keyAlgorithmToProto(value: CoreKeyAlgorithm): KeyAlgorithm {
  return keyAlgorithms.find(([, core]) => core === value)?.[0] ?? KeyAlgorithm.UNSPECIFIED;
}

export function timestamp(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}

/**
 * The id inside a resource name ("certificateAuthorities/{id}"), or
 * invalid_argument naming the field and the expected form (AIP-122).
 */
export function idFromName(name: string, collection: string, field = "name"): string {
  const prefix = `${collection}/`;
  if (!name.startsWith(prefix) || name.length === prefix.length || name.slice(prefix.length).includes("/"))
    throw new ChanceryError("invalid_argument", `${field} must look like "${collection}/{id}", got "${name}"`);
  return name.slice(prefix.length);
}

/** AIP-158 page size: 0 means the default; larger than the maximum is clamped; negative is an error. */
export function pageSize(value: number, defaults = { default: 100, max: 1000 }): number {
  if (value < 0) throw new ChanceryError("invalid_argument", "page_size must not be negative");
  return value === 0 ? defaults.default : Math.min(value, defaults.max);
}
