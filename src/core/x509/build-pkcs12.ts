import { createCipheriv, createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import { contextConstructed, derInteger, derNull, derOid, octetString, sequence, setOf, tlv } from "./der-writer.ts";
import { pkcs12Kdf, pkcs12Password } from "./pkcs12-kdf.ts";

/**
 * Builds a password-protected PKCS#12 file (RFC 7292) holding one private
 * key, its certificate and the certificate's issuers, the way OpenSSL 3
 * writes one by default, with stronger parameters:
 *
 * - the key in a PKCS8ShroudedKeyBag (RFC 7292 §4.2.2) and the certificates
 *   in an EncryptedData safe, both under PBES2 (RFC 8018 §6.2) with PBKDF2-
 *   HMAC-SHA256 and AES-256-CBC;
 * - integrity by an HMAC-SHA256 MAC over the AuthenticatedSafe with the key
 *   from the PKCS#12 KDF (RFC 7292 Appendix B), as `openssl pkcs12` checks it;
 * - the key bag and the leaf's cert bag share a localKeyId attribute
 *   (PKCS#9, RFC 2985 §5.5.2), so importers pair them.
 */
export interface Pkcs12Input {
  /** DER PKCS#8 PrivateKeyInfo. */
  readonly privateKeyPkcs8: Uint8Array;
  /** DER of the certificate for the key. */
  readonly certificateDer: Uint8Array;
  /** DER of its issuers, nearest first. */
  readonly chainDer: readonly Uint8Array[];
  readonly passphrase: string;
  /** PKCS#9 friendlyName for the key and the leaf, e.g. the common name. */
  readonly friendlyName?: string | undefined;
}

const oid = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSha256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
} as const;

/**
 * PBKDF2 work factor: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. The file
 * leaves the gateway, so its passphrase is all that guards the key offline.
 */
const pbkdf2Iterations = 600_000;
/** PKCS#12 KDF rounds for the MAC key (OpenSSL's default, PKCS12_DEFAULT_ITER). */
const macIterations = 2048;
const bmpStringTag = 0x1e;

export async function buildPkcs12(input: Pkcs12Input): Promise<Buffer> {
  if (typeof input.passphrase !== "string" || input.passphrase.length === 0)
    throw new ChanceryError("invalid_argument", "a PKCS#12 file needs a passphrase");
  // PBES2 takes the passphrase as UTF-8 octets (RFC 8018 §3), as OpenSSL does.
  const password = Buffer.from(input.passphrase, "utf8");
  const localKeyId = createHash("sha1").update(input.certificateDer).digest();
  const attributes = (withId: boolean) => {
    const list: Uint8Array[] = [];
    if (input.friendlyName) list.push(sequence([derOid(oid.friendlyName), setOf([bmpString(input.friendlyName)])]));
    if (withId) list.push(sequence([derOid(oid.localKeyId), setOf([octetString(localKeyId)])]));
    return list.length > 0 ? [setOf(list)] : [];
  };

  // RFC 7292 §4.2.2: PKCS8ShroudedKeyBag ::= EncryptedPrivateKeyInfo (RFC 5208 §6).
  const keyEncryption = await encryptPbes2(input.privateKeyPkcs8, password);
  const keyBag = sequence([
    derOid(oid.pkcs8ShroudedKeyBag),
    tlv(contextConstructed(0), sequence([keyEncryption.algorithm, octetString(keyEncryption.ciphertext)])),
    ...attributes(true),
  ]);
  // RFC 7292 §4.2.3: CertBag ::= SEQUENCE { certId, certValue [0] EXPLICIT OCTET STRING (DER certificate) }.
  const certBag = (der: Uint8Array, leaf: boolean) =>
    sequence([
      derOid(oid.certBag),
      tlv(contextConstructed(0), sequence([derOid(oid.x509Certificate), tlv(contextConstructed(0), octetString(der))])),
      ...(leaf ? attributes(true) : []),
    ]);
  const certificateSafe = sequence([
    certBag(input.certificateDer, true),
    ...input.chainDer.map((der) => certBag(der, false)),
  ]);
  const keySafe = sequence([keyBag]);

  // RFC 7292 §5.1: the certificates in an EncryptedData ContentInfo (RFC 5652 §8), the key in plain Data
  // (it is shrouded already).
  const encryptedCertificates = await encryptPbes2(certificateSafe, password);
  const authenticatedSafe = sequence([
    sequence([
      derOid(oid.encryptedData),
      tlv(
        contextConstructed(0),
        sequence([
          derInteger(0),
          sequence([
            derOid(oid.data),
            encryptedCertificates.algorithm,
            // encryptedContent [0] IMPLICIT OCTET STRING (primitive).
            tlv(0x80, encryptedCertificates.ciphertext),
          ]),
        ]),
      ),
    ]),
    sequence([derOid(oid.data), tlv(contextConstructed(0), octetString(keySafe))]),
  ]);

  // RFC 7292 §4: MacData over the content octets of the authSafe Data, key from Appendix B with ID 3.
  const macSalt = randomBytes(16);
  const macKey = pkcs12Kdf("sha256", pkcs12Password(input.passphrase), macSalt, 3, macIterations, 32);
  const mac = createHmac("sha256", macKey).update(authenticatedSafe).digest();
  const macData = sequence([
    sequence([sequence([derOid(oid.sha256), derNull]), octetString(mac)]),
    octetString(macSalt),
    derInteger(macIterations),
  ]);
  return Buffer.from(
    sequence([
      derInteger(3),
      sequence([derOid(oid.data), tlv(contextConstructed(0), octetString(authenticatedSafe))]),
      macData,
    ]),
  );
}

async function encryptPbes2(
  plaintext: Uint8Array,
  password: Buffer,
): Promise<{ algorithm: Uint8Array; ciphertext: Buffer }> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  // On libuv's thread pool: hundreds of thousands of HMACs must not stall the event loop.
  const key = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password, salt, pbkdf2Iterations, 32, "sha256", (err, derived) => (err ? reject(err) : resolve(derived))),
  );
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  key.fill(0);
  // RFC 8018 §A.2 PBKDF2-params and §A.4 PBES2-params; §B.2.5 aes256-CBC-Pad with the IV as parameter.
  const algorithm = sequence([
    derOid(oid.pbes2),
    sequence([
      sequence([
        derOid(oid.pbkdf2),
        sequence([octetString(salt), derInteger(pbkdf2Iterations), sequence([derOid(oid.hmacWithSha256), derNull])]),
      ]),
      sequence([derOid(oid.aes256Cbc), octetString(iv)]),
    ]),
  ]);
  return { algorithm, ciphertext };
}

function bmpString(value: string): Uint8Array {
  const out = Buffer.alloc(value.length * 2);
  for (let i = 0; i < value.length; i++) out.writeUInt16BE(value.charCodeAt(i), i * 2);
  return tlv(bmpStringTag, out);
}
