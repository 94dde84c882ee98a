import { createPrivateKey } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import { pemDecode } from "../x509/pem.ts";
import type { KeyPackageSigner } from "./server-key-package.ts";

const certificateBlocks = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----/g;

/**
 * The signer of encrypted server-generated keys (RFC 7030 §4.4.2: signed by
 * the party that generated the key): the EST server's own TLS certificate
 * and key, which the client already authenticated in the handshake. The
 * returned function takes the listener's PEM material (certificate chain
 * first, then key) and parses it once per material, so a renewed listener
 * certificate is picked up.
 */
export function createListenerKeySigner(): (material: {
  readonly cert: string;
  readonly key: string;
}) => KeyPackageSigner {
  let last: { cert: string; key: string; signer: KeyPackageSigner } | null = null;
  return (material) => {
    if (last && last.cert === material.cert && last.key === material.key) return last.signer;
    const [certificateDer, ...chainDer] = [...material.cert.matchAll(certificateBlocks)].map((block) =>
      pemDecode(block[0], ["CERTIFICATE"]),
    );
    if (!certificateDer) throw new ChanceryError("internal", "the listener TLS material holds no certificate");
    const signer: KeyPackageSigner = { certificateDer, chainDer, privateKey: createPrivateKey(material.key) };
    last = { cert: material.cert, key: material.key, signer };
    return signer;
  };
}
