import {
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  X509Certificate as NodeX509Certificate,
  pbkdf2Sync,
  webcrypto,
} from "node:crypto";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert } from "@peculiar/asn1-schema";
import { BasicConstraints, Certificate, id_ce_basicConstraints, id_ce_keyUsage, KeyUsage } from "@peculiar/asn1-x509";
import * as asn1js from "asn1js";
import {
  type AlgorithmIdentifier,
  type AuthenticatedSafe,
  type CertBag,
  ContentInfo,
  CryptoEngine,
  EncryptedContentInfo,
  EncryptedData,
  PBES2Params,
  PBKDF2Params,
  PFX,
  type PKCS8ShroudedKeyBag,
  type PrivateKeyInfo,
  type SafeContents,
} from "pkijs";
import { ChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { keyAlgorithmOf } from "../keys/key-algorithm-of.ts";
import { pkcs12Kdf, pkcs12Password } from "../x509/pkcs12-kdf.ts";

/** An existing CA brought in from PEM/DER files: its certificate(s) and its private key. */
export interface CaKeyFilesInput {
  /** PEM text (or its bytes) holding one or more certificates, or the DER of one certificate. */
  certificates: string | Uint8Array;
  /**
   * PEM text (or its bytes): PKCS#8 "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", SEC1 "EC PRIVATE KEY" or
   * PKCS#1 "RSA PRIVATE KEY"; or DER PKCS#8, plain or encrypted.
   */
  privateKey: string | Uint8Array;
  /** Needed when the private key is encrypted. */
  passphrase?: string;
}

/** An existing CA brought in as one PKCS#12 / PFX file (RFC 7292). */
export interface CaKeyPkcs12Input {
  /** DER bytes of the PFX. */
  pkcs12: Uint8Array;
  passphrase: string;
  /** Certificates to add to those in the file, for a file that lacks the chain. */
  certificates?: string | Uint8Array;
}

export type CaKeyImportInput = CaKeyFilesInput | CaKeyPkcs12Input;

export interface ImportedCaKey {
  /** DER of the CA certificate: the one whose public key is the private key's. */
  certificateDer: Buffer;
  /** DER of the issuers above it, nearest first, as far as they were given. */
  chainDer: Buffer[];
  /** DER PKCS#8 PrivateKeyInfo, unencrypted: seal it before storing it. */
  privateKeyPkcs8: Buffer;
  algorithm: KeyAlgorithm;
}

/**
 * Reads an existing CA's certificate and private key and checks that they
 * belong together and can issue certificates:
 * - the private key is of an algorithm we sign with (keyAlgorithmOf);
 * - exactly one certificate carries the private key's public key (compared
 *   as DER SubjectPublicKeyInfo);
 * - that certificate is a CA certificate: basicConstraints with cA TRUE
 *   (RFC 5280 §4.2.1.9) and, when keyUsage is present, keyCertSign
 *   (RFC 5280 §4.2.1.3);
 * - every other certificate is an issuer above it (name chaining and
 *   signature), so the chain we store is one clients can use.
 * Every refusal is a ChanceryError invalid_argument saying which check failed.
 */
export async function importCaKey(input: CaKeyImportInput): Promise<ImportedCaKey> {
  if (typeof input !== "object" || input === null) {
    throw invalid("CA import needs certificates and a private key, or a PKCS#12 file");
  }
  let privateKey: KeyObject;
  let certificatesDer: Buffer[];
  if ("pkcs12" in input && input.pkcs12 !== undefined) {
    const contents = await readPkcs12(input.pkcs12, input.passphrase);
    try {
      privateKey = createPrivateKey({ key: contents.privateKeyPkcs8, format: "der", type: "pkcs8" });
    } catch (cause) {
      // Without a MAC, a wrong passphrase can get past the CBC padding checks and only show up here.
      throw invalid("wrong passphrase or corrupt key: the PKCS#12 file's private key is not valid PKCS#8", cause);
    }
    certificatesDer = contents.certificatesDer;
    if (input.certificates !== undefined) certificatesDer.push(...readCertificates(input.certificates));
    if (certificatesDer.length === 0) {
      throw invalid("the PKCS#12 file holds no certificate; pass the CA certificate in certificates");
    }
  } else {
    const files = input as CaKeyFilesInput;
    if (files.certificates === undefined) throw invalid("no CA certificate given");
    if (files.privateKey === undefined) throw invalid("no private key given");
    certificatesDer = readCertificates(files.certificates);
    privateKey = readPrivateKey(files.privateKey, files.passphrase);
  }

  const algorithm = keyAlgorithmOf(privateKey);
  const keySpki = spkiOf(privateKey);
  const certificates = distinct(certificatesDer).map(parseCertificate);
  const matching = certificates.filter((certificate) => certificate.spki.equals(keySpki));
  if (matching.length === 0) {
    throw invalid(
      certificates.length === 1
        ? "the private key does not match the certificate's public key"
        : `the private key matches none of the ${certificates.length} certificates given`,
    );
  }
  if (matching.length > 1) {
    throw invalid(
      `${matching.length} of the certificates given carry the private key's public key (${matching.map(describe).join("; ")}); give only the one to issue under`,
    );
  }
  const caCertificate = matching[0]!;
  requireCaCertificate(caCertificate);
  const chain = issuersAbove(
    caCertificate,
    certificates.filter((certificate) => certificate !== caCertificate),
  );

  return {
    certificateDer: caCertificate.der,
    chainDer: chain.map((certificate) => certificate.der),
    privateKeyPkcs8: privateKey.export({ type: "pkcs8", format: "der" }),
    algorithm,
  };
}

// ---------------------------------------------------------------------------
// Certificates

interface ParsedCertificate {
  der: Buffer;
  node: NodeX509Certificate;
  /** The public key re-encoded by OpenSSL, so that equal keys compare equal whatever their original encoding. */
  spki: Buffer;
}

function readCertificates(source: string | Uint8Array): Buffer[] {
  const text = pemText(source);
  if (text === undefined) return [Buffer.from(source as Uint8Array)];
  const blocks = pemBlocks(text).filter((block) => block.label === "CERTIFICATE" || block.label === "X509 CERTIFICATE");
  if (blocks.length === 0) throw invalid("no PEM CERTIFICATE block found in the certificates given");
  return blocks.map((block) => block.der);
}

function parseCertificate(der: Buffer, index: number): ParsedCertificate {
  let node: NodeX509Certificate;
  try {
    node = new NodeX509Certificate(der);
  } catch (cause) {
    throw invalid(`certificate #${index + 1} is not a valid X.509 certificate`, cause);
  }
  return { der, node, spki: spkiOf(node.publicKey) };
}

/*
 * Extensions are read with @peculiar/asn1-x509, the schema layer under @peculiar/x509: @peculiar/x509 itself
 * pulls in tsyringe, which refuses to load unless a Reflect metadata polyfill (reflect-metadata) has been
 * installed globally first, and this project has no such dependency.
 */
function requireCaCertificate(certificate: ParsedCertificate): void {
  let basicConstraints: BasicConstraints | undefined;
  let keyUsage: KeyUsage | undefined;
  try {
    const extensions = AsnConvert.parse(certificate.der, Certificate).tbsCertificate.extensions ?? [];
    const extension = (id: string) => extensions.find((candidate) => candidate.extnID === id)?.extnValue;
    const basicConstraintsValue = extension(id_ce_basicConstraints);
    const keyUsageValue = extension(id_ce_keyUsage);
    if (basicConstraintsValue) basicConstraints = AsnConvert.parse(basicConstraintsValue, BasicConstraints);
    if (keyUsageValue) keyUsage = AsnConvert.parse(keyUsageValue, KeyUsage);
  } catch (cause) {
    throw invalid(`the CA certificate (${describe(certificate)}) has malformed extensions`, cause);
  }
  if (basicConstraints === undefined) {
    throw invalid(
      `the certificate (${describe(certificate)}) is not a CA certificate: it has no basicConstraints extension (RFC 5280 §4.2.1.9)`,
    );
  }
  if (!basicConstraints.cA) {
    throw invalid(
      `the certificate (${describe(certificate)}) is not a CA certificate: its basicConstraints has cA FALSE (RFC 5280 §4.2.1.9)`,
    );
  }
  if (keyUsage !== undefined && !keyUsage.toJSON().includes("keyCertSign")) {
    throw invalid(
      `the certificate (${describe(certificate)}) cannot sign certificates: its keyUsage lacks keyCertSign (RFC 5280 §4.2.1.3)`,
    );
  }
}

/** Orders `others` into the chain above `certificate`, nearest issuer first; refuses any that do not fit. */
function issuersAbove(certificate: ParsedCertificate, others: ParsedCertificate[]): ParsedCertificate[] {
  const remaining = new Set(others);
  const chain: ParsedCertificate[] = [];
  let current = certificate;
  while (remaining.size > 0 && !issuedBy(current, current)) {
    const issuer = [...remaining].find((candidate) => issuedBy(current, candidate));
    if (issuer === undefined) break;
    chain.push(issuer);
    remaining.delete(issuer);
    current = issuer;
  }
  const stray = [...remaining][0];
  if (stray !== undefined) {
    throw invalid(
      `certificate (${describe(stray)}) is not in the issuer chain of the CA certificate (${describe(certificate)}); give only the CA certificate and the issuers above it`,
    );
  }
  return chain;
}

/** RFC 5280 §6.1.3: issuer name matches and the signature verifies under the issuer's key. */
function issuedBy(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return subject.node.checkIssued(issuer.node) && subject.node.verify(issuer.node.publicKey);
  } catch {
    return false;
  }
}

function describe(certificate: ParsedCertificate): string {
  return `subject ${certificate.node.subject.replaceAll("\n", ", ")}`;
}

function distinct(ders: Buffer[]): Buffer[] {
  return ders.filter((der, index) => ders.findIndex((other) => other.equals(der)) === index);
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === "private" ? createPublicKey(key) : key).export({ type: "spki", format: "der" });
}

// ---------------------------------------------------------------------------
// Private keys from PEM or DER

const pemKeyLabels = new Set(["PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]);

function readPrivateKey(source: string | Uint8Array, passphrase: string | undefined): KeyObject {
  const text = pemText(source);
  if (text !== undefined) {
    const blocks = pemBlocks(text).filter((block) => block.label.endsWith("PRIVATE KEY"));
    if (blocks.length === 0) {
      throw invalid(
        "no PEM private key found (expected PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)",
      );
    }
    if (blocks.length > 1) throw invalid(`found ${blocks.length} PEM private keys; give exactly one`);
    const block = blocks[0]!;
    if (!pemKeyLabels.has(block.label)) {
      throw invalid(
        `private key format "${block.label}" is not supported (expected PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)`,
      );
    }
    // RFC 7468 §11 (PKCS#8 EncryptedPrivateKeyInfo), or OpenSSL's RFC 1421 style headers on SEC1 / PKCS#1 keys.
    const encrypted = block.label === "ENCRYPTED PRIVATE KEY" || /^Proc-Type:\s*4,ENCRYPTED/m.test(block.text);
    return decodePrivateKey(encrypted, passphrase, (pass) =>
      createPrivateKey({ key: block.text, format: "pem", passphrase: pass }),
    );
  }

  const der = Buffer.from(source as Uint8Array);
  if (isEncryptedPrivateKeyInfo(der)) {
    return decodePrivateKey(true, passphrase, (pass) =>
      createPrivateKey({ key: der, format: "der", type: "pkcs8", passphrase: pass }),
    );
  }
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      return createPrivateKey({ key: der, format: "der", type });
    } catch {
      // try the next encoding
    }
  }
  if (looksLikePfx(der)) throw invalid("the private key looks like a PKCS#12 file; pass it as pkcs12 instead");
  throw invalid("the private key could not be read: expected PEM, or DER PKCS#8 (plain or encrypted)");
}

function decodePrivateKey(
  encrypted: boolean,
  passphrase: string | undefined,
  decode: (passphrase: string | undefined) => KeyObject,
): KeyObject {
  if (encrypted && (passphrase === undefined || passphrase === "")) {
    throw invalid("the private key is encrypted; a passphrase is required");
  }
  try {
    return decode(encrypted ? passphrase : undefined);
  } catch (cause) {
    // A wrong passphrase usually fails the CBC padding check, but one time in 256 it "decrypts" to garbage
    // that fails to parse instead; both mean the same to the operator.
    if (encrypted) throw invalid("wrong passphrase or corrupt key", cause);
    throw invalid("the private key could not be read (corrupt or unsupported encoding)", cause);
  }
}

function isEncryptedPrivateKeyInfo(der: Uint8Array): boolean {
  try {
    AsnConvert.parse(der, EncryptedPrivateKeyInfo);
    return true;
  } catch {
    return false;
  }
}

function looksLikePfx(der: Uint8Array): boolean {
  try {
    PFX.fromBER(Uint8Array.from(der));
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// PEM (RFC 7468)

interface PemBlock {
  label: string;
  /** The whole block, BEGIN to END line, as node:crypto wants it. */
  text: string;
  der: Buffer;
}

function pemText(source: string | Uint8Array): string | undefined {
  if (typeof source === "string") return source;
  if (!(source instanceof Uint8Array)) throw invalid("expected PEM text or DER bytes");
  const head = Buffer.from(source.subarray(0, 64)).toString("latin1");
  return /^\uFEFF?\s*-----BEGIN /.test(head) ? Buffer.from(source).toString("utf8") : undefined;
}

function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
    // RFC 1421 style headers ("Proc-Type: ...") precede a blank line; only the base64 after them is the DER.
    const body = match[2]!.replace(/^[\s\S]*?\r?\n\r?\n/, (headers) => (headers.includes(":") ? "" : headers));
    blocks.push({ label: match[1]!, text: match[0], der: Buffer.from(body.replace(/\s+/g, ""), "base64") });
  }
  return blocks;
}

// ---------------------------------------------------------------------------
// PKCS#12 (RFC 7292)

const oid = {
  keyBag: "1.2.840.113549.1.12.10.1.1",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  safeContentsBag: "1.2.840.113549.1.12.10.1.6",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  pbeWithShaAnd3KeyTripleDesCbc: "1.2.840.113549.1.12.1.3",
  pbeWithShaAnd2KeyTripleDesCbc: "1.2.840.113549.1.12.1.4",
} as const;

/** RFC 7292 Appendix C: the PKCS#12 PBE schemes that need ciphers Node's OpenSSL keeps in its legacy provider. */
const legacyPbeNames: Record<string, string> = {
  "1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
  "1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
  "1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
  "1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
};

/** RFC 8018 §B.1.2 and §B.2: the PRFs and PBES2 ciphers worth supporting. */
const hmacPrfs: Record<string, string> = {
  "1.2.840.113549.2.7": "sha1",
  "1.2.840.113549.2.8": "sha224",
  "1.2.840.113549.2.9": "sha256",
  "1.2.840.113549.2.10": "sha384",
  "1.2.840.113549.2.11": "sha512",
};
const pbes2Ciphers: Record<string, { cipher: string; keyLength: number }> = {
  "2.16.840.1.101.3.4.1.2": { cipher: "aes-128-cbc", keyLength: 16 },
  "2.16.840.1.101.3.4.1.22": { cipher: "aes-192-cbc", keyLength: 24 },
  "2.16.840.1.101.3.4.1.42": { cipher: "aes-256-cbc", keyLength: 32 },
  "1.2.840.113549.3.7": { cipher: "des-ede3-cbc", keyLength: 24 },
};

/** Iteration counts above these are refused rather than letting an uploaded file burn minutes of CPU. */
const maxPbkdf2Iterations = 10_000_000;
const maxPkcs12KdfIterations = 1_000_000;
const maxSafeContentsDepth = 4;

interface Pkcs12Contents {
  privateKeyPkcs8: Buffer;
  certificatesDer: Buffer[];
}

async function readPkcs12(bytes: Uint8Array, passphrase: string): Promise<Pkcs12Contents> {
  if (!(bytes instanceof Uint8Array)) throw invalid("pkcs12 must be the DER bytes of a PKCS#12 file");
  if (typeof passphrase !== "string") throw invalid("a PKCS#12 file needs its passphrase");
  let pfx: PFX;
  try {
    pfx = PFX.fromBER(Uint8Array.from(bytes));
  } catch (cause) {
    throw invalid("not a PKCS#12 (PFX) file", cause);
  }
  const engine = createPkcs12Engine();
  const password = toArrayBuffer(Buffer.from(passphrase, "utf8"));

  // RFC 7292 §4: password integrity mode is a MAC over the AuthenticatedSafe; public-key mode signs it.
  if (pfx.authSafe.contentType !== ContentInfo.DATA) {
    throw invalid("PKCS#12 files in public-key integrity mode are not supported; export with a password");
  }
  if (pfx.macData !== undefined && (pfx.macData.iterations ?? 1) > maxPkcs12KdfIterations) {
    throw invalid(`PKCS#12 MAC iteration count ${pfx.macData.iterations} is too large`);
  }
  try {
    await pfx.parseInternalValues({ password, checkIntegrity: pfx.macData !== undefined }, engine);
  } catch (cause) {
    if (cause instanceof Error && /integrity/i.test(cause.message)) {
      throw invalid("wrong passphrase or corrupt key: the PKCS#12 integrity check (MAC) failed", cause);
    }
    throw invalid("the PKCS#12 file could not be read: unsupported MAC algorithm or corrupt file", cause);
  }
  const authenticatedSafe = pfx.parsedValue?.authenticatedSafe as AuthenticatedSafe;

  // RFC 7292 §5.1: each ContentInfo is plain Data or password-encrypted EncryptedData (public-key
  // EnvelopedData is for transport to a known recipient, not for exports like these).
  const safeContentsParameters = authenticatedSafe.safeContents.map((contentInfo) => {
    if (contentInfo.contentType === ContentInfo.DATA) return {};
    if (contentInfo.contentType === ContentInfo.ENCRYPTED_DATA) return { password };
    throw invalid("PKCS#12 files with public-key privacy mode (EnvelopedData) are not supported");
  });
  try {
    await authenticatedSafe.parseInternalValues({ safeContents: safeContentsParameters }, engine);
  } catch (cause) {
    throw cause instanceof ChanceryError ? cause : invalid("wrong passphrase or corrupt key", cause);
  }

  const keys: Buffer[] = [];
  const certificatesDer: Buffer[] = [];
  const parsedSafes = authenticatedSafe.parsedValue.safeContents as { value: SafeContents }[];
  for (const safe of parsedSafes) {
    await collectBags(safe.value, password, engine, keys, certificatesDer, 0);
  }
  if (keys.length === 0) throw invalid("the PKCS#12 file holds no private key");
  if (keys.length > 1) throw invalid(`the PKCS#12 file holds ${keys.length} private keys; expected exactly one`);
  return { privateKeyPkcs8: keys[0]!, certificatesDer };
}

async function collectBags(
  contents: SafeContents,
  password: ArrayBuffer,
  engine: CryptoEngine,
  keys: Buffer[],
  certificates: Buffer[],
  depth: number,
): Promise<void> {
  if (depth > maxSafeContentsDepth) throw invalid("the PKCS#12 file nests SafeContents too deeply");
  for (const bag of contents.safeBags) {
    switch (bag.bagId) {
      case oid.keyBag:
        keys.push(Buffer.from((bag.bagValue as PrivateKeyInfo).toSchema().toBER(false)));
        break;
      case oid.pkcs8ShroudedKeyBag: {
        // RFC 7292 §4.2.2: a PKCS8ShroudedKeyBag is an EncryptedPrivateKeyInfo; decrypt it as pkijs itself would.
        const shrouded = bag.bagValue as PKCS8ShroudedKeyBag;
        const encrypted = new EncryptedData({
          encryptedContentInfo: new EncryptedContentInfo({
            contentType: ContentInfo.DATA,
            contentEncryptionAlgorithm: shrouded.encryptionAlgorithm,
            encryptedContent: shrouded.encryptedData,
          }),
        });
        try {
          keys.push(Buffer.from(await encrypted.decrypt({ password }, engine)));
        } catch (cause) {
          throw cause instanceof ChanceryError ? cause : invalid("wrong passphrase or corrupt key", cause);
        }
        break;
      }
      case oid.certBag: {
        const certBag = bag.bagValue as CertBag;
        // SDSI certificates (RFC 7292 §4.2.3) are not X.509; nothing here could use them.
        if (certBag.certId === oid.x509Certificate) {
          certificates.push(Buffer.from((certBag.certValue as asn1js.OctetString).getValue()));
        }
        break;
      }
      case oid.safeContentsBag:
        await collectBags(bag.bagValue as SafeContents, password, engine, keys, certificates, depth + 1);
        break;
      default:
      // CRL and secret bags carry nothing a CA import needs.
    }
  }
}

/**
 * pkijs walks the PKCS#12 structure and checks the MAC over WebCrypto; the
 * decryption of encrypted safes and shrouded keys is replaced with
 * node:crypto, because WebCrypto has no 3DES (the PBE-SHA1-3DES of
 * `openssl pkcs12 -legacy`, older Windows and Java exports) and no
 * DES-EDE3-CBC under PBES2. The engine is passed to every pkijs call
 * explicitly, so nothing here touches pkijs's global engine.
 */
function createPkcs12Engine(): CryptoEngine {
  const crypto = webcrypto as unknown as ConstructorParameters<typeof CryptoEngine>[0]["crypto"];
  const engine = new CryptoEngine({ name: "chancery-pkcs12", crypto });
  engine.decryptEncryptedContentInfo = async ({ encryptedContentInfo, password }) =>
    toArrayBuffer(
      decryptPasswordBased(
        encryptedContentInfo.contentEncryptionAlgorithm,
        Buffer.from(encryptedContentInfo.getEncryptedContent()),
        Buffer.from(password),
      ),
    );
  return engine;
}

/** `password` is the passphrase as UTF-8, which is what PBES2 takes (RFC 8018 §3; OpenSSL does the same). */
function decryptPasswordBased(algorithm: AlgorithmIdentifier, ciphertext: Buffer, password: Buffer): Buffer {
  const id = algorithm.algorithmId;
  if (id === oid.pbes2) return decryptPbes2(algorithm.algorithmParams, ciphertext, password);
  if (id === oid.pbeWithShaAnd3KeyTripleDesCbc) {
    return decryptPkcs12Pbe(algorithm.algorithmParams, ciphertext, password, "des-ede3-cbc", 24);
  }
  if (id === oid.pbeWithShaAnd2KeyTripleDesCbc) {
    return decryptPkcs12Pbe(algorithm.algorithmParams, ciphertext, password, "des-ede-cbc", 16);
  }
  const legacy = legacyPbeNames[id];
  if (legacy !== undefined) {
    throw invalid(
      `the PKCS#12 file is encrypted with ${legacy}, a legacy cipher this gateway does not support; ` +
        "re-export it with AES, e.g. `openssl pkcs12 -legacy -in old.p12 -nodes | openssl pkcs12 -export -out new.p12`",
    );
  }
  throw invalid(`the PKCS#12 file uses an unsupported encryption algorithm (${id})`);
}

function decryptPbes2(parameters: unknown, ciphertext: Buffer, password: Buffer): Buffer {
  let pbes2: PBES2Params;
  let pbkdf2: PBKDF2Params;
  try {
    pbes2 = new PBES2Params({ schema: parameters });
  } catch (cause) {
    throw invalid("the PKCS#12 file has malformed PBES2 parameters", cause);
  }
  // RFC 8018 §6.2: PBES2 pairs a key derivation function with a cipher; PBKDF2 is the one in use.
  if (pbes2.keyDerivationFunc.algorithmId !== oid.pbkdf2) {
    throw invalid(
      `the PKCS#12 file uses an unsupported key derivation function (${pbes2.keyDerivationFunc.algorithmId})`,
    );
  }
  try {
    pbkdf2 = new PBKDF2Params({ schema: pbes2.keyDerivationFunc.algorithmParams });
  } catch (cause) {
    throw invalid("the PKCS#12 file has malformed PBKDF2 parameters", cause);
  }
  const scheme = pbes2Ciphers[pbes2.encryptionScheme.algorithmId];
  if (scheme === undefined) {
    throw invalid(`the PKCS#12 file uses an unsupported PBES2 cipher (${pbes2.encryptionScheme.algorithmId})`);
  }
  // RFC 8018 §A.2: the PRF defaults to hmacWithSHA1.
  const prfId = pbkdf2.prf?.algorithmId;
  const digest = prfId === undefined ? "sha1" : hmacPrfs[prfId];
  if (digest === undefined) throw invalid(`the PKCS#12 file uses an unsupported PBKDF2 PRF (${prfId})`);
  if (!(pbkdf2.salt instanceof asn1js.OctetString)) throw invalid("the PKCS#12 file uses an unsupported PBKDF2 salt");
  const iv = pbes2.encryptionScheme.algorithmParams;
  if (!(iv instanceof asn1js.OctetString)) throw invalid("the PKCS#12 file has a malformed PBES2 IV");
  const iterations = checkIterations(pbkdf2.iterationCount, maxPbkdf2Iterations);
  if (pbkdf2.keyLength !== undefined && pbkdf2.keyLength !== scheme.keyLength) {
    throw invalid("the PKCS#12 file's PBKDF2 key length does not fit its cipher");
  }
  const key = pbkdf2Sync(password, Buffer.from(pbkdf2.salt.getValue()), iterations, scheme.keyLength, digest);
  return decipher(scheme.cipher, key, Buffer.from(iv.getValue()), ciphertext);
}

/** RFC 7292 Appendix C: pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }. */
function decryptPkcs12Pbe(
  parameters: unknown,
  ciphertext: Buffer,
  password: Buffer,
  cipher: string,
  keyLength: number,
): Buffer {
  const fields = parameters instanceof asn1js.Sequence ? parameters.valueBlock.value : [];
  const [salt, iterationCount] = fields;
  if (!(salt instanceof asn1js.OctetString) || !(iterationCount instanceof asn1js.Integer)) {
    throw invalid("the PKCS#12 file has malformed PBE parameters");
  }
  const iterations = checkIterations(iterationCount.valueBlock.valueDec, maxPkcs12KdfIterations);
  const saltBytes = Buffer.from(salt.getValue());
  const bmpPassword = pkcs12Password(password.toString("utf8"));
  // RFC 7292 Appendix B.3: ID 1 derives the key, ID 2 the IV.
  const key = pkcs12Kdf("sha1", bmpPassword, saltBytes, 1, iterations, keyLength);
  const iv = pkcs12Kdf("sha1", bmpPassword, saltBytes, 2, iterations, 8);
  return decipher(cipher, key, iv, ciphertext);
}

function checkIterations(iterations: number, max: number): number {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw invalid("the PKCS#12 file has a bad iteration count");
  if (iterations > max) throw invalid(`the PKCS#12 file's iteration count ${iterations} is too large`);
  return iterations;
}

function decipher(cipher: string, key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const decipher = createDecipheriv(cipher, key, iv);
  // A wrong key almost always breaks the PKCS#7 padding here (RFC 8018 §6.1.1 step 4).
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.from(bytes).buffer;
}

function invalid(message: string, cause?: unknown): ChanceryError {
  return new ChanceryError("invalid_argument", message, cause === undefined ? undefined : { cause });
}
