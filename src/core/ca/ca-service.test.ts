import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { createTestCore } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { createScratchDir, openssl, opensslCsr, verifyChain } from "../x509/testing/openssl.ts";

const admin = { actor: "user:admin", sourceIp: "127.0.0.1" };
const subject = (cn: string) => [
  { type: "O", value: "Chancery Test" },
  { type: "CN", value: cn },
];

function run(args: string[]): string {
  const result = openssl(args);
  if (!result.ok) throw new Error(`openssl ${args[0]}: ${result.stderr}`);
  return result.stdout;
}

describe("CA service", () => {
  let db: TestDatabase;
  let core: TestCore;
  beforeAll(async () => {
    ({ db, core } = await startTestCore({ maxConnections: 8 }));
  });
  afterAll(() => stopTestCore(db, core));

  it.each<KeyAlgorithm>(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"])(
    "creates a %s root and an intermediate below it that openssl verifies",
    async (keyAlgorithm) => {
      const root = await core.cas.createRoot(
        { name: `root-${keyAlgorithm}`, subject: subject(`Root ${keyAlgorithm}`), keyAlgorithm, validityDays: 3650 },
        admin,
      );
      const sub = await core.cas.createIntermediate(
        {
          name: `sub-${keyAlgorithm}`,
          parentId: root.id,
          subject: subject(`Sub ${keyAlgorithm}`),
          keyAlgorithm,
          validityDays: 99999, // longer than the root: capped at the root's notAfter
          pathLen: 0,
        },
        admin,
      );
      expect(root).toMatchObject({ kind: "root", status: "active", keyAlgorithm, chainDer: [] });
      expect(sub).toMatchObject({ kind: "intermediate", status: "active", parentId: root.id });
      expect(sub.notAfter!.getTime()).toBeLessThanOrEqual(root.notAfter!.getTime());
      expect(verifyChain(root.certificateDer!, [], sub.certificateDer!).stdout).toContain("OK");
      const subText = openssl(["x509", "-inform", "DER", "-noout", "-text"], sub.certificateDer!).stdout;
      expect(subText).toMatch(/CA:TRUE, pathlen:0/);
      expect(subText).toMatch(/Certificate Sign, CRL Sign/);
      expect(subText).toContain(`URI:http://pki.test:8081/crl/${root.id}.crl`);
      expect(await core.cas.chainPem(sub.id)).toBe(
        [sub.certificateDer!, root.certificateDer!].map((d) => pem(d)).join(""),
      );
    },
  );

  it("stores CA keys sealed: no plaintext key in the row, and the wrong KEK cannot open it", async () => {
    const ca = await core.cas.createRoot(
      { name: "sealed", subject: subject("Sealed"), keyAlgorithm: "ecdsa-p256", validityDays: 10 },
      admin,
    );
    const row = await db.pool.one(
      sql.unsafe`SELECT sealed_private_key, public_key_spki FROM certificate_authorities WHERE id = ${ca.id}`,
    );
    const sealed = row["sealed_private_key"] as Buffer;
    // A P-256 PKCS#8 carries the OID 1.2.840.10045.2.1 in clear; a sealed blob must not.
    expect(sealed.includes(Buffer.from("06072a8648ce3d0201", "hex"))).toBe(false);
    const other = createTestCore(db, { kek: randomBytes(32) });
    await expect(other.cas.signer(ca.id)).rejects.toMatchObject({ code: "failed_precondition" });
    const signer = await core.cas.signer(ca.id);
    expect(Buffer.from(signer.publicKeySpki).equals(row["public_key_spki"] as Buffer)).toBe(true);
  });

  it("refuses a duplicate or malformed CA name", async () => {
    await expect(
      core.cas.createRoot(
        { name: "sealed", subject: subject("x"), keyAlgorithm: "ecdsa-p256", validityDays: 1 },
        admin,
      ),
    ).rejects.toMatchObject({ code: "already_exists" });
    await expect(
      core.cas.createRoot(
        { name: "Bad Name", subject: subject("x"), keyAlgorithm: "ecdsa-p256", validityDays: 1 },
        admin,
      ),
    ).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("makes a CSR for an external parent and activates the CA with the certificate openssl signed", async () => {
    const { ca, csrPem } = await core.cas.createExternalIntermediate(
      { name: "external-sub", subject: subject("External Sub"), keyAlgorithm: "ecdsa-p384", pathLen: 0 },
      admin,
    );
    expect(ca.status).toBe("pending");
    const scratch = createScratchDir();
    try {
      const csrFile = scratch.file("sub.csr", csrPem);
      expect(run(["req", "-in", csrFile, "-noout", "-verify"])).toBeDefined();
      const extKey = `${scratch.dir}/ext.key`;
      const extCert = `${scratch.dir}/ext.pem`;
      run([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        extKey,
        "-out",
        extCert,
        "-subj",
        "/CN=External Root",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]);
      const extFile = scratch.file(
        "ext.cnf",
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
      );
      const signed = `${scratch.dir}/sub.pem`;
      run([
        "x509",
        "-req",
        "-in",
        csrFile,
        "-CA",
        extCert,
        "-CAkey",
        extKey,
        "-CAcreateserial",
        "-days",
        "20",
        "-extfile",
        extFile,
        "-out",
        signed,
      ]);
      const bundle = readFileSync(signed, "utf8") + readFileSync(extCert, "utf8");

      // A certificate for some other key is refused, and the CA stays pending.
      await expect(core.cas.importSignedCertificate(ca.id, readFileSync(extCert, "utf8"), admin)).rejects.toMatchObject(
        {
          code: "invalid_argument",
        },
      );
      expect((await core.cas.get(ca.id)).status).toBe("pending");

      const active = await core.cas.importSignedCertificate(ca.id, bundle, admin);
      expect(active.status).toBe("active");
      expect(active.chainDer).toHaveLength(1);
      expect(active.notAfter!.getTime()).toBeLessThan(Date.now() + 21 * 86_400_000);
      await expect(core.cas.importSignedCertificate(ca.id, bundle, admin)).rejects.toMatchObject({
        code: "failed_precondition",
      });
      // The activated CA issues, and openssl chains the leaf to the external root.
      await core.profiles.create(
        {
          name: "ext-leaf",
          validity: { default: "1d", max: "2d" },
          san: { allowedTypes: ["dns"], required: true },
          revocationInfo: { crlDistributionPoint: false, ocsp: false, caIssuers: false },
        },
        admin,
      );
      const issued = await core.issuance.issue({
        caId: ca.id,
        profileName: "ext-leaf",
        csrDer: opensslCsr({ subject: "/CN=leaf.example" }),
        approved: { sans: [{ type: "dns", value: "leaf.example" }] },
        requester: "user:admin",
        sourceProtocol: "admin",
      });
      const verify = openssl([
        "verify",
        "-CAfile",
        extCert,
        "-untrusted",
        signed,
        scratch.file("leaf.pem", pem(issued.der)),
      ]);
      expect(verify.stdout).toContain("OK");
    } finally {
      scratch.cleanup();
    }
  });

  it("imports an existing CA from a PKCS#12 file made by openssl, and refuses it twice", async () => {
    const scratch = createScratchDir();
    try {
      const key = `${scratch.dir}/ca.key`;
      const cert = `${scratch.dir}/ca.pem`;
      run([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-subj",
        "/CN=Imported CA",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]);
      const p12 = `${scratch.dir}/ca.p12`;
      run(["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:s3cret"]);
      const ca = await core.cas.importExisting("imported", { pkcs12: readFileSync(p12), passphrase: "s3cret" }, admin);
      expect(ca).toMatchObject({ kind: "root", status: "active", keyAlgorithm: "rsa-2048", subject: "CN=Imported CA" });
      await expect(
        core.cas.importExisting("imported-again", { pkcs12: readFileSync(p12), passphrase: "s3cret" }, admin),
      ).rejects.toMatchObject({ code: "already_exists" });
      await expect(
        core.cas.importExisting("wrong-pass", { pkcs12: readFileSync(p12), passphrase: "nope" }, admin),
      ).rejects.toMatchObject({ code: "invalid_argument" });
    } finally {
      scratch.cleanup();
    }
  });

  it("disables and enables a CA, audited once each way", async () => {
    const ca = await core.cas.findByName("sealed");
    await core.cas.setEnabled(ca!.id, false, admin);
    await core.cas.setEnabled(ca!.id, false, admin);
    expect((await core.cas.get(ca!.id)).status).toBe("disabled");
    await core.cas.setEnabled(ca!.id, true, admin);
    const actions = await db.pool.anyFirst(
      sql.unsafe`SELECT action FROM audit_events WHERE target = ${`ca:${ca!.id}`} ORDER BY seq`,
    );
    expect(actions).toEqual(["ca.create_root", "ca.disable", "ca.enable"]);
    await expect(core.cas.get("00000000-0000-0000-0000-000000000000")).rejects.toMatchObject({ code: "not_found" });
    await expect(core.cas.get("not-a-uuid")).rejects.toMatchObject({ code: "not_found" });
    expect((await core.audit.verify()).ok).toBe(true);
  });
});

function pem(der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}
