import { ChanceryError } from "../errors.ts";
import type { PublicKeyInfo } from "../keys/public-key-info.ts";
import {
  children,
  expectChildren,
  expectTag,
  raw,
  readBitString,
  readOid,
  readRoot,
  readSmallInteger,
  readString,
} from "./der-reader.ts";
import { contextConstructed, tags } from "./der-writer.ts";
import type { Extension } from "./extensions.ts";
import { type ParsedGeneralName, parseGeneralName } from "./general-name.ts";
import type { NameAttribute } from "./name.ts";
import { oids } from "./oids.ts";
import { readExtension } from "./parse-certificate.ts";
import { parseName } from "./parse-name.ts";
import { decodeBase64Strict, pemDecode } from "./pem.ts";
import { readSubjectPublicKeyInfo } from "./subject-public-key-info.ts";
import { readSignatureAlgorithm, type SignatureAlgorithm, verifySignature } from "./verify-signature.ts";

/**
 * A verified PKCS#10 request. Everything here is what the requester asked
 * for; policy decides what goes into a certificate (DESIGN rule 10: CSR
 * extensions are never copied blindly).
 */
export interface ParsedCsr {
  readonly der: Uint8Array;
  readonly subject: readonly NameAttribute[];
  /** RFC 4514 form of the subject. */
  readonly subjectString: string;
  readonly subjectDer: Uint8Array;
  /** DER SubjectPublicKeyInfo exactly as in the request. */
  readonly publicKeySpki: Uint8Array;
  readonly publicKey: PublicKeyInfo;
  /** Name of the signature algorithm that proved possession, e.g. "ecdsa-with-SHA256". */
  readonly signatureAlgorithm: string;
  /**
   * GeneralNames of a requested subjectAltName extension, for information
   * only; an otherName with a string value (a Microsoft UPN) carries its
   * OID and value, for the OID registry to name (requested-sans.ts).
   */
  readonly requestedSans: readonly ParsedGeneralName[];
  /** All requested extensions (PKCS#9 extensionRequest), for information only. */
  readonly requestedExtensions: readonly Extension[];
  /** PKCS#9 challengePassword (RFC 2985 §5.4.1), used by SCEP (RFC 8894 §2.2) and EST. */
  readonly challengePassword: string | undefined;
}

/** Largest CSR we read: real ones are a few KiB; this bounds work on hostile input. */
export const maxCsrBytes = 64 * 1024;
/** RSA keys above this size are refused before any RSA arithmetic (cost grows with the cube of the size). */
const maxRsaBits = 8192;

function badCsr(message: string, cause?: unknown): ChanceryError {
  return new ChanceryError("bad_csr", message, cause === undefined ? undefined : { cause });
}

/**
 * Parses a CSR given as DER, PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE
 * REQUEST") or bare base64 (the EST wire form, RFC 7030 §4.2.1), and
 * verifies its self-signature (the proof of possession, RFC 2986 §3).
 * Any problem is a ChanceryError "bad_csr"; no other exception escapes.
 */
export function parseCsr(input: Uint8Array | string): ParsedCsr {
  const { csr, proof } = readCsr(input);
  if (!verifyProofOfPossession(proof)) throw badCsr(proofFailedMessage);
  verifiedCsrs.set(csr.der, csr);
  return csr;
}

/**
 * CSRs parseCsr verified in this process, keyed by the identity of their
 * `der` bytes (a WeakMap: they live as long as the request holding them).
 * A front end that had to read the CSR before issuing (SCEP checks the
 * challenge in it) hands the issuance core those same bytes, and the core
 * takes the verified parse instead of parsing and checking the signature a
 * second time. Bytes that arrive any other way (a copy, a stored request)
 * are not found and are parsed and checked as usual. No caller writes into
 * a CSR's bytes after parsing them.
 */
const verifiedCsrs = new WeakMap<Uint8Array, ParsedCsr>();

/** The verified parse of exactly these bytes (same object) if parseCsr made one, else undefined. */
export function verifiedCsr(der: Uint8Array): ParsedCsr | undefined {
  return verifiedCsrs.get(der);
}

/**
 * What checking a CSR's self-signature needs, detached from the parse so the
 * check can run elsewhere (src/core/x509/signature-verifier.ts runs it on a
 * worker thread, off the event loop that serves requests).
 */
export interface ProofOfPossession {
  readonly algorithm: SignatureAlgorithm;
  readonly spki: { readonly der: Uint8Array; readonly algorithmOid: string };
  /** The DER CertificationRequestInfo, which the signature covers (RFC 2986 §4.2). */
  readonly signedData: Uint8Array;
  readonly signature: Uint8Array;
}

export const proofFailedMessage = "CSR signature does not verify with its public key (no proof of possession)";

export function verifyProofOfPossession(proof: ProofOfPossession): boolean {
  return verifySignature(proof.algorithm, proof.spki, proof.signedData, proof.signature);
}

/**
 * parseCsr without the signature check: the caller MUST check `proof`
 * (verifyProofOfPossession or a SignatureVerifier) before trusting `csr`.
 */
export function readCsr(input: Uint8Array | string): { csr: ParsedCsr; proof: ProofOfPossession } {
  let der: Uint8Array;
  try {
    der = toDer(input);
  } catch (cause) {
    if (cause instanceof ChanceryError && cause.code === "bad_csr") throw cause;
    throw badCsr(`CSR is not valid PEM or DER${cause instanceof ChanceryError ? `: ${cause.message}` : ""}`, cause);
  }
  if (der.length > maxCsrBytes) throw badCsr(`CSR is larger than ${maxCsrBytes} bytes`);
  try {
    return parseDer(der);
  } catch (cause) {
    if (cause instanceof ChanceryError) {
      if (cause.code === "bad_csr") throw cause;
      throw badCsr(`CSR rejected: ${cause.message}`, cause);
    }
    throw badCsr("CSR is malformed", cause);
  }
}

function toDer(input: Uint8Array | string): Uint8Array {
  if (typeof input !== "string") {
    if (!(input instanceof Uint8Array)) throw badCsr("CSR must be bytes or a string");
    if (input.length > maxCsrBytes * 2) throw badCsr(`CSR is larger than ${maxCsrBytes} bytes`);
    // "-----" : PEM sent as bytes.
    if (input.length > 5 && input[0] === 0x2d && input[1] === 0x2d && input[2] === 0x2d)
      return toDer(Buffer.from(input).toString("latin1"));
    return input;
  }
  if (input.length > maxCsrBytes * 2) throw badCsr(`CSR is larger than ${maxCsrBytes} bytes`);
  if (input.includes("-----BEGIN")) return pemDecode(input, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  const der = decodeBase64Strict(input);
  if (!der) throw badCsr("CSR text is neither PEM nor base64");
  return der;
}

function parseDer(der: Uint8Array): { csr: ParsedCsr; proof: ProofOfPossession } {
  const root = readRoot(der);
  const [infoNode, algorithmNode, signatureNode] = expectChildren(der, root, tags.sequence, "CertificationRequest", 3);
  // RFC 2986 §4.1: version, subject, subjectPKInfo, attributes [0]; we tolerate absent attributes.
  const info = expectChildren(der, infoNode!, tags.sequence, "CertificationRequestInfo", 3, 4);
  if (readSmallInteger(der, info[0]!) !== 0) throw badCsr("CSR version must be 0 (RFC 2986 §4.1)");
  const subject = parseName(der, info[1]!);
  const spkiDer = raw(der, expectTag(info[2], tags.sequence, "SubjectPublicKeyInfo")).slice();
  const spki = readSubjectPublicKeyInfo(spkiDer);
  if (spki.key.type === "rsa" && spki.key.bits > maxRsaBits)
    throw badCsr(`RSA keys larger than ${maxRsaBits} bits are not accepted`);

  const algorithm = readSignatureAlgorithm(der, algorithmNode!);
  const { bytes: signature, unusedBits } = readBitString(der, signatureNode!);
  if (unusedBits !== 0) throw badCsr("CSR signature has unused bits");
  const proof: ProofOfPossession = {
    algorithm,
    spki: { der: spki.der, algorithmOid: spki.algorithmOid },
    signedData: raw(der, infoNode!),
    signature,
  };

  let requestedExtensions: Extension[] = [];
  let challengePassword: string | undefined;
  const attributesNode = info[3];
  if (attributesNode) {
    expectTag(attributesNode, contextConstructed(0), "CSR attributes");
    for (const attribute of children(der, attributesNode)) {
      const [typeNode, valuesNode] = expectChildren(der, attribute, tags.sequence, "Attribute", 2);
      const type = readOid(der, typeNode!);
      const values = expectChildren(der, valuesNode!, tags.set, "Attribute values", 1, 16);
      if (type === oids.extensionRequest) {
        const list = expectTag(values[0], tags.sequence, "Extensions");
        requestedExtensions = children(der, list).map((node) => readExtension(der, node));
      } else if (type === oids.challengePassword) {
        challengePassword = readString(der, values[0]!);
      }
    }
  }

  const requestedSans: ParsedGeneralName[] = [];
  const san = requestedExtensions.find((e) => e.oid === oids.subjectAltName);
  if (san) {
    const list = readRoot(san.value);
    for (const node of children(san.value, expectTag(list, tags.sequence, "subjectAltName")))
      requestedSans.push(parseGeneralName(san.value, node));
  }

  const csr: ParsedCsr = {
    der,
    subject: subject.attributes,
    subjectString: subject.text,
    subjectDer: subject.der.slice(),
    publicKeySpki: spkiDer,
    publicKey: spki.key,
    signatureAlgorithm: algorithm.name,
    requestedSans,
    requestedExtensions,
    challengePassword,
  };
  return { csr, proof };
}
