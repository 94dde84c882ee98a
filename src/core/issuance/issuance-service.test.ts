import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { X509Certificate } from "@peculiar/x509";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { createTestCore } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import { certificateText, openssl, opensslCsr, verifyChain } from "../x509/testing/openssl.ts";

describe("issuance service", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;

  beforeAll(async () => {
    ({ db, core, issuing, root } = await startBootstrappedCore({ maxConnections: 8 }));
  });
  afterAll(() => stopTestCore(db, core));

  it("issues a certificate openssl verifies, from the profile and approved request, never the CSR's extensions", async () => {
    const csrDer = opensslCsr({
      subject: "/CN=app.example.com/O=Evil Corp",
      sans: "DNS:app.example.com,DNS:not-approved.example.com",
      extra: ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    });
    const issued = await core.issuance.issue({
      caId: issuing.id,
      profileName: "tls-server",
      csrDer,
      approved: { sans: [{ type: "dns", value: "app.example.com" }] },
      requester: "user:alice",
      sourceProtocol: "admin",
      sourceIp: "192.0.2.7",
    });

    expect(verifyChain(root.certificateDer!, [issuing.certificateDer!], issued.der).stdout).toContain("OK");

    // Read back with @peculiar/x509, a parser that shares nothing with the builder.
    const cert = new X509Certificate(Buffer.from(issued.der));
    const bc = cert.getExtension("2.5.29.19") as unknown as { ca: boolean; critical: boolean };
    expect(bc.ca).toBe(false);
    expect(bc.critical).toBe(true);
    const ku = cert.getExtension("2.5.29.15") as unknown as { usages: number; critical: boolean };
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(1); // digitalSignature only: no keyCertSign, no cRLSign
    const san = cert.getExtension("2.5.29.17") as unknown as {
      names: { items: Array<{ type: string; value: string }> };
    };
    expect(san.names.items.map((n) => `${n.type}:${n.value}`)).toEqual(["dns:app.example.com"]);
    const eku = cert.getExtension("2.5.29.37") as unknown as { usages: string[] };
    expect(eku.usages).toEqual(["1.3.6.1.5.5.7.3.1"]);
    expect(cert.subject).toBe("CN=app.example.com"); // O dropped: tls-server keeps CN only
    expect(cert.issuer).toBe(new X509Certificate(issuing.certificateDer!).subject);
    // The INTEGER's content octets as encoded: positive (top bit clear) and
    // carrying at least 64 random bits (RFC 5280 §4.1.2.2, CA/B BRs §7.1).
    const serial = Buffer.from(AsnConvert.parse(issued.der, Certificate).tbsCertificate.serialNumber);
    expect(serial[0]! & 0x80).toBe(0);
    expect(serial.length).toBeGreaterThanOrEqual(9);
    const text = openssl(["x509", "-inform", "DER", "-noout", "-text"], issued.der).stdout;
    expect(text).toContain("URI:http://pki.test:8081/crl/");
    expect(text).toContain("OCSP - URI:http://pki.test:8081/ocsp");
    // notBefore backdated by the profile's 60 s; 90 days default validity.
    expect(Date.now() - cert.notBefore.getTime()).toBeGreaterThanOrEqual(59_000);
    expect(Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000)).toBe(90);

    const row = await core.issuance.getBySerial(issued.serialHex);
    expect(row).toMatchObject({
      ca_id: issuing.id,
      subject: "CN=app.example.com",
      sans: [{ type: "dns", value: "app.example.com" }],
      requester: "user:alice",
      source_protocol: "admin",
      status: "valid",
      fingerprint_sha256: issued.fingerprintSha256,
    });
    expect(Buffer.from(row.der).equals(Buffer.from(issued.der))).toBe(true);

    const events = await db.pool.any(
      sql.unsafe`SELECT actor, action, target, source_ip FROM audit_events WHERE action = 'certificate.issue'`,
    );
    expect(events).toContainEqual({
      actor: "user:alice",
      action: "certificate.issue",
      target: `certificate:${issued.serialHex}`,
      source_ip: "192.0.2.7",
    });
    expect((await core.audit.verify()).ok).toBe(true);
  });

  it("refuses a CSR whose signature does not verify and stores nothing", async () => {
    const csrDer = opensslCsr({ subject: "/CN=x.example.com", sans: "DNS:x.example.com" });
    csrDer[csrDer.length - 5]! ^= 0xff; // inside the signature
    const before = await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`);
    const error = await core.issuance
      .issue({
        caId: issuing.id,
        profileName: "tls-server",
        csrDer,
        approved: { sans: [{ type: "dns", value: "x.example.com" }] },
        requester: "user:alice",
        sourceProtocol: "admin",
      })
      .catch((err: unknown) => err);
    expect(isChanceryError(error, "bad_csr")).toBe(true);
    expect(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`)).toBe(before);
  });

  it("refuses what the profile forbids with policy_violation", async () => {
    const csrDer = opensslCsr({ subject: "/CN=ip.example.com", sans: "DNS:ip.example.com" });
    const error = await core.issuance
      .issue({
        caId: issuing.id,
        profileName: "tls-client",
        csrDer,
        approved: { sans: [{ type: "ip", value: "10.0.0.1" }] },
        requester: "user:alice",
        sourceProtocol: "admin",
      })
      .catch((err: unknown) => err);
    expect(isChanceryError(error, "policy_violation")).toBe(true);
  });

  it("caps notAfter at the profile maximum", async () => {
    const csrDer = opensslCsr({ subject: "/CN=long.example.com", sans: "DNS:long.example.com" });
    const issued = await core.issuance
      .issue({
        caId: issuing.id,
        profileName: "tls-server",
        csrDer,
        approved: { sans: [{ type: "dns", value: "long.example.com" }] },
        validity: { notAfter: new Date(Date.now() + 5 * 365 * 86_400_000) },
        requester: "user:alice",
        sourceProtocol: "admin",
      })
      .catch((err: unknown) => err);
    // Either capped to 397 days or refused: never longer than the profile allows.
    if (isChanceryError(issued)) expect(issued.code).toBe("policy_violation");
    else {
      const cert = new X509Certificate(Buffer.from((issued as { der: Uint8Array }).der));
      expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBeLessThanOrEqual(397 * 86_400_000 + 61_000);
    }
  });

  it("commits concurrent issuances in shared batches with unique serials and an intact audit chain", async () => {
    const csrs = Array.from({ length: 8 }, (_, i) =>
      opensslCsr({ subject: `/CN=n${i}.example.com`, sans: `DNS:n${i}.example.com` }),
    );
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        core.issuance.issue({
          caId: issuing.id,
          profileName: "tls-server",
          csrDer: csrs[i % csrs.length]!,
          approved: { sans: [{ type: "dns", value: `n${i % csrs.length}.example.com` }] },
          requester: "bench",
          sourceProtocol: "admin",
        }),
      ),
    );
    expect(new Set(results.map((r) => r.serialHex)).size).toBe(200);
    const stored = await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates WHERE requester = 'bench'`);
    expect(stored).toBe(200);
    expect((await core.audit.verify()).ok).toBe(true);
  });

  it("commits a front end's hook with the certificate; a hook that throws refuses only its own certificate", async () => {
    const csr = opensslCsr({ subject: "/CN=hook.example.com", sans: "DNS:hook.example.com" });
    const request = (i: number) => ({
      caId: issuing.id,
      profileName: "tls-server",
      csrDer: csr,
      approved: { sans: [{ type: "dns" as const, value: "hook.example.com" }] },
      requester: `hook-${i}`,
      sourceProtocol: "admin" as const,
    });
    // Ten at once share a batch; the fourth one's hook throws after writing, inside the transaction.
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        core.issuance.issue(request(i), {
          async alsoInTransaction(tx, issued) {
            await tx.query(sql.unsafe`SELECT 1`);
            if (i === 3) throw new ChanceryError("failed_precondition", "the front end could not record it");
            return [{ actor: `hook-${i}`, action: "test.hook", target: `certificate:${issued.serialHex}` }];
          },
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(9);
    const refused = results[3];
    expect(refused?.status === "rejected" && isChanceryError(refused.reason, "failed_precondition")).toBe(true);
    const stored = await db.pool.anyFirst(
      sql.unsafe`SELECT requester FROM certificates WHERE requester LIKE 'hook-%' ORDER BY requester`,
    );
    expect(stored).not.toContain("hook-3");
    expect(stored).toHaveLength(9);
    // Each certificate's own event, then the hook's, in one sealed run.
    const events = await db.pool.any(sql.unsafe`
      SELECT action, target FROM audit_events WHERE action IN ('certificate.issue', 'test.hook')
        AND target IN (SELECT 'certificate:' || serial_hex FROM certificates WHERE requester LIKE 'hook-%')
      ORDER BY seq`);
    expect(events).toHaveLength(18);
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i]).toMatchObject({ action: "certificate.issue" });
      expect(events[i + 1]).toMatchObject({ action: "test.hook", target: events[i]!["target"] });
    }
    expect((await core.audit.verify()).ok).toBe(true);
  });

  it("revokes idempotently with an RFC 5280 reason and audits only the first revocation", async () => {
    const csrDer = opensslCsr({ subject: "/CN=rev.example.com", sans: "DNS:rev.example.com" });
    const issued = await core.issuance.issue({
      caId: issuing.id,
      profileName: "tls-server",
      csrDer,
      approved: { sans: [{ type: "dns", value: "rev.example.com" }] },
      requester: "user:alice",
      sourceProtocol: "admin",
    });
    const by = { actor: "user:bob", sourceIp: "127.0.0.1" };
    const first = await core.issuance.revoke({ serialHex: issued.serialHex, reason: "keyCompromise" }, by);
    expect(first).toMatchObject({ reason: "keyCompromise", changed: true });
    const again = await core.issuance.revoke({ serialHex: issued.serialHex.toUpperCase(), reason: "superseded" }, by);
    expect(again).toMatchObject({ reason: "keyCompromise", changed: false, revokedAt: first.revokedAt });
    const row = await core.issuance.getBySerial(issued.serialHex);
    expect(row).toMatchObject({ status: "revoked", revocation_reason: 1 });
    const audits = await db.pool.oneFirst(
      sql.unsafe`SELECT count(*)::int FROM audit_events WHERE action = 'certificate.revoke' AND target = ${`certificate:${issued.serialHex}`}`,
    );
    expect(audits).toBe(1);
    await expect(core.issuance.revoke({ serialHex: "ab".repeat(16), reason: "unspecified" }, by)).rejects.toMatchObject(
      {
        code: "not_found",
      },
    );
    await expect(core.issuance.revoke({ serialHex: "zz", reason: "unspecified" }, by)).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("refuses names outside the name constraints of a CA above the issuer (regression: only the issuer's were checked)", async () => {
    const by = { actor: "user:admin" };
    const constrainedRoot = await core.cas.createRoot(
      {
        name: "constrained-root",
        subject: [{ type: "CN", value: "Constrained Root" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 30,
        nameConstraints: { permitted: { dns: ["corp.example"] } },
      },
      by,
    );
    const sub = await core.cas.createIntermediate(
      {
        name: "constrained-sub",
        parentId: constrainedRoot.id,
        subject: [{ type: "CN", value: "Constrained Sub" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 20,
        pathLen: 0,
      },
      by,
    );
    const request = (name: string) => ({
      caId: sub.id,
      profileName: "tls-server",
      csrDer: opensslCsr({ subject: `/CN=${name}`, sans: `DNS:${name}` }),
      approved: { sans: [{ type: "dns" as const, value: name }] },
      requester: "user:alice",
      sourceProtocol: "admin" as const,
    });
    const inside = await core.issuance.issue(request("app.corp.example"));
    expect(verifyChain(constrainedRoot.certificateDer!, [sub.certificateDer!], inside.der).stdout).toContain("OK");
    await expect(core.issuance.issue(request("app.other.example"))).rejects.toMatchObject({
      code: "policy_violation",
      message: expect.stringMatching(/nameConstraints/),
    });
  });

  it("refuses a profile not on the CA's allowed list, and allows it again when the list is cleared", async () => {
    const admin = { actor: "user:admin" };
    await expect(core.cas.setAllowedProfiles(issuing.id, ["no-such-profile"], admin)).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await core.cas.setAllowedProfiles(issuing.id, ["tls-client"], admin);
    try {
      // A fresh core: the running one may hold the CA's issuing context for a few seconds.
      const fresh = createTestCore(db, { kek: core.kek });
      await expect(
        fresh.issuance.issue({
          caId: issuing.id,
          profileName: "tls-server",
          csrDer: opensslCsr({ subject: "/CN=p.example.com" }),
          approved: { sans: [{ type: "dns", value: "p.example.com" }] },
          requester: "user:alice",
          sourceProtocol: "admin",
        }),
      ).rejects.toMatchObject({
        code: "policy_violation",
        message: expect.stringMatching(/not allowed on CA issuing/),
      });
      await fresh.committer.close();
    } finally {
      await core.cas.setAllowedProfiles(issuing.id, [], admin);
    }
  });

  it("never allows a CA profile by default: it must be on the CA's allowed list", async () => {
    const admin = { actor: "user:admin" };
    await core.profiles.create(
      {
        name: "sub-ca",
        validity: { default: "365d", max: "365d" },
        keyUsage: ["keyCertSign", "cRLSign"],
        basicConstraints: { ca: true, pathLen: 0 },
        san: { allowedTypes: [] },
        subject: { keep: ["CN", "O"], required: ["CN"] },
      },
      admin,
    );
    const request = {
      caId: root.id,
      profileName: "sub-ca",
      csrDer: opensslCsr({ subject: "/CN=Rogue Sub CA" }),
      approved: { sans: [] },
      requester: "user:operator",
      sourceProtocol: "admin" as const,
    };
    await expect(core.issuance.issue(request)).rejects.toMatchObject({
      code: "policy_violation",
      message: expect.stringMatching(/makes CA certificates and must be listed/),
    });
    await core.cas.setAllowedProfiles(root.id, ["sub-ca", "tls-server"], admin);
    try {
      const fresh = createTestCore(db, { kek: core.kek });
      const issued = await fresh.issuance.issue(request);
      expect(certificateText(issued.der)).toContain("CA:TRUE, pathlen:0");
      await fresh.committer.close();
    } finally {
      await core.cas.setAllowedProfiles(root.id, [], admin);
    }
  });

  it("refuses to issue from a disabled CA", async () => {
    await core.cas.setEnabled(issuing.id, false, { actor: "user:admin" });
    try {
      const fresh = createTestCore(db, { kek: core.kek });
      const csrDer = opensslCsr({ subject: "/CN=d.example.com", sans: "DNS:d.example.com" });
      await expect(
        fresh.issuance.issue({
          caId: issuing.id,
          profileName: "tls-server",
          csrDer,
          approved: { sans: [{ type: "dns", value: "d.example.com" }] },
          requester: "user:alice",
          sourceProtocol: "admin",
        }),
      ).rejects.toMatchObject({ code: "failed_precondition" });
      await fresh.committer.close();
    } finally {
      await core.cas.setEnabled(issuing.id, true, { actor: "user:admin" });
    }
  });
});
