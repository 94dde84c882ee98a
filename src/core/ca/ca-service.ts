import { createPrivateKey, type KeyObject, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  activateCa,
  type CaRow,
  findCaByFingerprint,
  findCaById,
  findCaByName,
  insertCa,
  listCas,
  lockCa,
  setCaAllowedProfiles,
  setCaOtpRequired,
  setCaStatus,
} from "../../store/ca-store.ts";
import { findProfileByName } from "../../store/profile-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { generateKeyPairAsync } from "../keys/generate-key-pair.ts";
import { isKeyAlgorithm, type KeyAlgorithm } from "../keys/key-algorithm.ts";
import type { CaUrls } from "../profiles/ca-urls.ts";
import { createIntermediateCertificate, createRootCertificate } from "../x509/ca-certificate.ts";
import { createCertificateSigningRequest } from "../x509/certificate-signing-request.ts";
import { basicConstraintsExtension, keyUsageExtension, type NameConstraints } from "../x509/extensions.ts";
import { formatAttributes, type NameAttribute } from "../x509/name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { pemEncode } from "../x509/pem.ts";
import { keyIdentifier } from "../x509/subject-public-key-info.ts";
import { type CaKeyImportInput, importCaKey } from "./ca-key-import.ts";
import type { CertificateAuthority } from "./certificate-authority.ts";
import { sha256Fingerprint } from "./fingerprint.ts";
import type { KeyEncryption } from "./key-encryption.ts";
import type { Signer } from "./signer.ts";
import { createSoftwareSigner } from "./software-signer.ts";

export interface CreateRootCaInput {
  name: string;
  subject: readonly NameAttribute[];
  keyAlgorithm: KeyAlgorithm;
  validityDays: number;
  pathLen?: number | undefined;
  nameConstraints?: NameConstraints | undefined;
}

export interface CreateIntermediateCaInput extends CreateRootCaInput {
  parentId: string;
}

export interface CaService {
  createRoot(input: CreateRootCaInput, by: Actor): Promise<CertificateAuthority>;
  /** An intermediate signed by a CA held here. */
  createIntermediate(input: CreateIntermediateCaInput, by: Actor): Promise<CertificateAuthority>;
  /** A pending intermediate whose CSR goes to an external parent; complete it with importSignedCertificate. */
  createExternalIntermediate(
    input: Omit<CreateRootCaInput, "validityDays" | "nameConstraints">,
    by: Actor,
  ): Promise<{ ca: CertificateAuthority; csrPem: string }>;
  importSignedCertificate(id: string, certificates: string | Uint8Array, by: Actor): Promise<CertificateAuthority>;
  /** An existing CA with its key (PEM, PKCS#8, encrypted PKCS#8, PKCS#12). */
  importExisting(name: string, input: CaKeyImportInput, by: Actor): Promise<CertificateAuthority>;
  setEnabled(id: string, enabled: boolean, by: Actor): Promise<CertificateAuthority>;
  /** The profiles the CA may issue with (empty: every profile); each must exist. */
  setAllowedProfiles(id: string, profileNames: readonly string[], by: Actor): Promise<CertificateAuthority>;
  /** Marks the CA as needing a TOTP code for every issuance or approval through it. */
  setOtpRequired(id: string, required: boolean, by: Actor): Promise<CertificateAuthority>;
  get(id: string): Promise<CertificateAuthority>;
  findByName(name: string): Promise<CertificateAuthority | null>;
  list(): Promise<CertificateAuthority[]>;
  /** The CA's signer, its key opened once and kept in memory. */
  signer(id: string): Promise<Signer>;
  /** The CA certificate followed by its issuers, PEM. */
  chainPem(id: string): Promise<string>;
  /**
   * The CA's own RSA key, for a SCEP endpoint without an RA (RFC 8894 §2.1:
   * the CA then decrypts requests and signs replies itself). Only an RSA key
   * held by the gateway qualifies: failed_precondition otherwise.
   */
  scepKey(id: string): Promise<KeyObject>;
}

const backdateMs = 60_000;
const dayMs = 86_400_000;

/**
 * Creating, importing and enabling CAs. Every CA key is generated or
 * imported here, sealed under the KEK bound to the CA id before it is
 * written (docs/decisions/0004-ca-keys-at-rest.md), and every change is
 * audited in the same transaction.
 */
export function createCaService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  keyEncryption: KeyEncryption;
  clock: Clock;
  logger: Logger;
  /** Where a CA publishes CRL/OCSP/its certificate (from the public base URL). */
  urlsFor: (caId: string) => CaUrls;
}): CaService {
  const { pool, audit, keyEncryption, clock } = deps;
  const signers = new Map<string, Promise<Signer>>();

  function validity(days: number, capAt?: Date | null): { notBefore: Date; notAfter: Date } {
    if (!Number.isInteger(days) || days < 1) throw new ChanceryError("invalid_argument", "validityDays must be >= 1");
    const now = clock.now().getTime();
    const notBefore = new Date(Math.floor((now - backdateMs) / 1000) * 1000);
    let notAfter = new Date(Math.floor((now + days * dayMs) / 1000) * 1000);
    // RFC 5280 §6.1.3 (a)(2): a certificate valid past its issuer is not usable then.
    if (capAt && notAfter > capAt) notAfter = capAt;
    return { notBefore, notAfter };
  }

  function checkName(name: string): void {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name))
      throw new ChanceryError(
        "invalid_argument",
        `CA name "${name}" must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit`,
      );
  }

  async function checkNameFree(db: CommonQueryMethods, name: string): Promise<void> {
    checkName(name);
    if (await findCaByName(db, name)) throw new ChanceryError("already_exists", `a CA named "${name}" already exists`);
  }

  async function generate(algorithm: KeyAlgorithm) {
    if (!isKeyAlgorithm(algorithm)) throw new ChanceryError("invalid_argument", `unknown key algorithm ${algorithm}`);
    const pair = await generateKeyPairAsync(algorithm);
    return { ...pair, signer: createSoftwareSigner(pair.privateKeyPkcs8) };
  }

  async function insertActive(
    tx: CommonQueryMethods,
    fields: {
      id: string;
      name: string;
      kind: "root" | "intermediate";
      parentId: string | null;
      algorithm: KeyAlgorithm;
      privateKeyPkcs8: Buffer;
      publicKeySpki: Buffer;
      certificateDer: Uint8Array;
      chainDer: Buffer[];
    },
    by: Actor,
    action: string,
  ): Promise<void> {
    const cert = readCertificate(fields.certificateDer);
    const der = Buffer.from(fields.certificateDer);
    const fingerprint = sha256Fingerprint(der);
    if (await findCaByFingerprint(tx, fingerprint))
      throw new ChanceryError("already_exists", `a CA with this certificate (SHA-256 ${fingerprint}) already exists`);
    await insertCa(tx, {
      id: fields.id,
      name: fields.name,
      kind: fields.kind,
      status: "active",
      parentId: fields.parentId,
      keyAlgorithm: fields.algorithm,
      sealedPrivateKey: keyEncryption.seal(fields.privateKeyPkcs8, sealBinding(fields.id)),
      publicKeySpki: fields.publicKeySpki,
      subject: cert.subject.text,
      subjectKeyId: Buffer.from(cert.subjectKeyIdentifier ?? keyIdentifier(fields.publicKeySpki)),
      certificateDer: der,
      csrDer: null,
      chainDer: fields.chainDer,
      fingerprintSha256: fingerprint,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    });
    await audit.appendInTransaction(tx, [
      {
        ...by,
        action,
        target: `ca:${fields.id}`,
        details: {
          name: fields.name,
          kind: fields.kind,
          keyAlgorithm: fields.algorithm,
          subject: cert.subject.text,
          serial: cert.serialHex,
          fingerprintSha256: fingerprint,
          notAfter: cert.notAfter.toISOString(),
          ...(fields.parentId ? { parentId: fields.parentId } : {}),
        },
      },
    ]);
  }

  /** Stores a CA whose key was generated here, and keeps its signer open. */
  async function persistGenerated(
    fields: {
      name: string;
      kind: "root" | "intermediate";
      parentId: string | null;
      algorithm: KeyAlgorithm;
      certificateDer: Uint8Array;
      chainDer: Buffer[];
    },
    key: { privateKeyPkcs8: Buffer; publicKeySpki: Buffer; signer: Signer },
    by: Actor,
    action: string,
  ): Promise<CertificateAuthority> {
    const id = randomUUID();
    await pool.transaction(async (tx) => {
      await checkNameFree(tx, fields.name);
      await insertActive(
        tx,
        { ...fields, id, privateKeyPkcs8: key.privateKeyPkcs8, publicKeySpki: key.publicKeySpki },
        by,
        action,
      );
    });
    signers.set(id, Promise.resolve(key.signer));
    return service.get(id);
  }

  async function getRow(db: CommonQueryMethods, id: string): Promise<CaRow> {
    if (!isUuid(id)) throw new ChanceryError("not_found", `no CA with id ${id}`);
    const row = await findCaById(db, id);
    if (!row) throw new ChanceryError("not_found", `no CA with id ${id}`);
    return row;
  }

  async function openSigner(id: string): Promise<Signer> {
    const row = await getRow(pool, id);
    const pkcs8 = keyEncryption.open(row.sealed_private_key, sealBinding(row.id));
    try {
      return createSoftwareSigner(pkcs8);
    } finally {
      pkcs8.fill(0);
    }
  }

  const service: CaService = {
    async createRoot(input, by) {
      const key = await generate(input.keyAlgorithm);
      const certificateDer = await createRootCertificate({
        signer: key.signer,
        subject: input.subject,
        validity: validity(input.validityDays),
        pathLenConstraint: input.pathLen,
        nameConstraints: input.nameConstraints,
      });
      return persistGenerated(
        { name: input.name, kind: "root", parentId: null, algorithm: input.keyAlgorithm, certificateDer, chainDer: [] },
        key,
        by,
        "ca.create_root",
      );
    },

    async createIntermediate(input, by) {
      const parent = await getRow(pool, input.parentId);
      if (parent.status !== "active" || !parent.certificate_der)
        throw new ChanceryError("failed_precondition", `parent CA ${parent.name} is ${parent.status}, not active`);
      const parentCert = readCertificate(parent.certificate_der);
      if (parentCert.basicConstraints?.pathLen === 0)
        throw new ChanceryError("failed_precondition", `parent CA ${parent.name} has pathLen 0 and cannot sign a CA`);
      const key = await generate(input.keyAlgorithm);
      const parentUrls = deps.urlsFor(parent.id);
      const certificateDer = await createIntermediateCertificate({
        issuerCertificateDer: parent.certificate_der,
        issuerSigner: await service.signer(parent.id),
        subjectPublicKeySpki: key.publicKeySpki,
        subject: input.subject,
        validity: validity(input.validityDays, parentCert.notAfter),
        pathLen: input.pathLen,
        nameConstraints: input.nameConstraints,
        crlUrl: parentUrls.crl,
        ocspUrl: parentUrls.ocsp,
        caIssuersUrl: parentUrls.caIssuers,
      });
      return persistGenerated(
        {
          name: input.name,
          kind: "intermediate",
          parentId: parent.id,
          algorithm: input.keyAlgorithm,
          certificateDer,
          chainDer: [parent.certificate_der, ...parent.chain_der],
        },
        key,
        by,
        "ca.create_intermediate",
      );
    },

    async createExternalIntermediate(input, by) {
      const key = await generate(input.keyAlgorithm);
      const csrDer = Buffer.from(
        await createCertificateSigningRequest({
          signer: key.signer,
          subject: input.subject,
          // What we ask the external parent for; it decides (RFC 2986 extensionRequest).
          extensions: [
            basicConstraintsExtension({ ca: true, pathLen: input.pathLen }),
            keyUsageExtension(["digitalSignature", "keyCertSign", "cRLSign"]),
          ],
        }),
      );
      const id = randomUUID();
      const subject = formatAttributes(input.subject);
      await pool.transaction(async (tx) => {
        await checkNameFree(tx, input.name);
        await insertCa(tx, {
          id,
          name: input.name,
          kind: "intermediate",
          status: "pending",
          parentId: null,
          keyAlgorithm: input.keyAlgorithm,
          sealedPrivateKey: keyEncryption.seal(key.privateKeyPkcs8, sealBinding(id)),
          publicKeySpki: key.publicKeySpki,
          subject,
          subjectKeyId: Buffer.from(keyIdentifier(key.publicKeySpki)),
          certificateDer: null,
          csrDer,
          chainDer: [],
          fingerprintSha256: null,
          notBefore: null,
          notAfter: null,
        });
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "ca.create_external_csr",
            target: `ca:${id}`,
            details: { name: input.name, keyAlgorithm: input.keyAlgorithm, subject },
          },
        ]);
      });
      return { ca: await service.get(id), csrPem: pemEncode("CERTIFICATE REQUEST", csrDer) };
    },

    async importSignedCertificate(id, certificates, by) {
      const row = await getRow(pool, id);
      if (row.status !== "pending")
        throw new ChanceryError(
          "failed_precondition",
          `CA ${row.name} is ${row.status}; only a pending CA takes a certificate`,
        );
      const pkcs8 = keyEncryption.open(row.sealed_private_key, sealBinding(row.id));
      // The importer checks what matters: the certificate carries this CA's
      // key, is a CA certificate, and the rest chain above it.
      const imported = await importCaKey({ certificates, privateKey: pkcs8 });
      pkcs8.fill(0);
      const cert = readCertificate(imported.certificateDer);
      await pool.transaction(async (tx) => {
        const locked = await lockCa(tx, id);
        if (locked?.status !== "pending")
          throw new ChanceryError("failed_precondition", `CA ${row.name} was completed by another request`);
        const fingerprint = sha256Fingerprint(imported.certificateDer);
        await activateCa(tx, id, {
          certificateDer: imported.certificateDer,
          chainDer: imported.chainDer,
          fingerprintSha256: fingerprint,
          notBefore: cert.notBefore,
          notAfter: cert.notAfter,
        });
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "ca.import_signed_certificate",
            target: `ca:${id}`,
            details: { serial: cert.serialHex, issuer: cert.issuer.text, fingerprintSha256: fingerprint },
          },
        ]);
      });
      return service.get(id);
    },

    async importExisting(name, input, by) {
      checkName(name);
      const imported = await importCaKey(input);
      const cert = readCertificate(imported.certificateDer);
      const selfSigned = Buffer.from(cert.subject.der).equals(Buffer.from(cert.issuer.der));
      const id = randomUUID();
      const publicKeySpki = Buffer.from(cert.publicKey.der);
      await pool.transaction(async (tx) => {
        await checkNameFree(tx, name);
        await insertActive(
          tx,
          {
            id,
            name,
            kind: selfSigned ? "root" : "intermediate",
            parentId: null,
            algorithm: imported.algorithm,
            privateKeyPkcs8: imported.privateKeyPkcs8,
            publicKeySpki,
            certificateDer: imported.certificateDer,
            chainDer: imported.chainDer,
          },
          by,
          "ca.import",
        );
      });
      imported.privateKeyPkcs8.fill(0);
      return service.get(id);
    },

    async setEnabled(id, enabled, by) {
      await pool.transaction(async (tx) => {
        const row = await lockCa(tx, id);
        if (!row) throw new ChanceryError("not_found", `no CA with id ${id}`);
        if (row.status === "pending") throw new ChanceryError("failed_precondition", `CA ${row.name} is pending`);
        const status = enabled ? "active" : "disabled";
        if (row.status === status) return;
        await setCaStatus(tx, id, status);
        await audit.appendInTransaction(tx, [
          { ...by, action: enabled ? "ca.enable" : "ca.disable", target: `ca:${id}`, details: { name: row.name } },
        ]);
      });
      return service.get(id);
    },

    async setAllowedProfiles(id, profileNames, by) {
      const names = [...new Set(profileNames)].sort();
      await pool.transaction(async (tx) => {
        const row = await lockCa(tx, id);
        if (!row) throw new ChanceryError("not_found", `no CA with id ${id}`);
        for (const name of names)
          if (!(await findProfileByName(tx, name)))
            throw new ChanceryError("invalid_argument", `allowed_profiles: no profile named "${name}"`);
        await setCaAllowedProfiles(tx, id, names);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "ca.set_allowed_profiles",
            target: `ca:${id}`,
            details: { name: row.name, from: row.allowed_profiles, to: names },
          },
        ]);
      });
      return service.get(id);
    },

    async setOtpRequired(id, required, by) {
      await pool.transaction(async (tx) => {
        const row = await lockCa(tx, id);
        if (!row) throw new ChanceryError("not_found", `no CA with id ${id}`);
        if (row.otp_required === required) return;
        await setCaOtpRequired(tx, id, required);
        await audit.appendInTransaction(tx, [
          { ...by, action: "ca.set_otp_required", target: `ca:${id}`, details: { name: row.name, required } },
        ]);
      });
      return service.get(id);
    },

    async get(id) {
      return toCa(await getRow(pool, id));
    },

    async findByName(name) {
      const row = await findCaByName(pool, name);
      return row ? toCa(row) : null;
    },

    async list() {
      return (await listCas(pool)).map(toCa);
    },

    signer(id) {
      let signer = signers.get(id);
      if (!signer) {
        signer = openSigner(id);
        signers.set(id, signer);
        signer.catch(() => signers.delete(id));
      }
      return signer;
    },

    async scepKey(id) {
      const row = await getRow(pool, id);
      const pkcs8 = keyEncryption.open(row.sealed_private_key, sealBinding(row.id));
      try {
        const key = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
        if (key.asymmetricKeyType !== "rsa")
          throw new ChanceryError(
            "failed_precondition",
            `CA ${row.name} has a ${key.asymmetricKeyType} key; SCEP without an RA needs an RSA CA`,
          );
        return key;
      } finally {
        pkcs8.fill(0);
      }
    },

    async chainPem(id) {
      const row = await getRow(pool, id);
      if (!row.certificate_der) throw new ChanceryError("failed_precondition", `CA ${row.name} has no certificate yet`);
      return [row.certificate_der, ...row.chain_der].map((der) => pemEncode("CERTIFICATE", der)).join("");
    },
  };
  return service;
}

/** The associated data a CA's sealed key is bound to (docs/decisions/0004). */
function sealBinding(caId: string): string {
  return `chancery/ca-key/${caId}`;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function toCa(row: CaRow): CertificateAuthority {
  if (!isKeyAlgorithm(row.key_algorithm)) throw new ChanceryError("internal", `CA ${row.id} has unknown key algorithm`);
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    status: row.status,
    parentId: row.parent_id,
    keyAlgorithm: row.key_algorithm,
    subject: row.subject,
    certificateDer: row.certificate_der,
    chainDer: row.chain_der,
    csrDer: row.csr_der,
    fingerprintSha256: row.fingerprint_sha256,
    notBefore: row.not_before === null ? null : new Date(row.not_before),
    notAfter: row.not_after === null ? null : new Date(row.not_after),
    otpRequired: row.otp_required,
    allowedProfiles: row.allowed_profiles,
    createdAt: new Date(row.created_at),
  };
}
