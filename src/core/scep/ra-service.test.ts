import { createPublicKey, privateDecrypt, publicEncrypt, constants as rsa } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { movableClock } from "../../../test/support/movable-clock.ts";
import { testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { certificateText, verifyChain } from "../x509/testing/openssl.ts";
import { createScepEndpointService } from "./endpoint-service.ts";
import { createScepRaService, raSealBinding, type ScepRaOptions } from "./ra-service.ts";
import type { ScepEndpoint, ScepEndpointService } from "./scep-types.ts";

const admin: Actor = { actor: "user:scep-ra-test", sourceIp: "198.51.100.4" };
const dayMs = 86_400_000;

const raRow = z.object({
  id: z.string(),
  ca_id: z.string(),
  serial_hex: z.string(),
  sealed_private_key: z.instanceof(Buffer),
  not_after: z.number(),
});

describe("SCEP RA certificates", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let rootDer: Buffer;
  let endpoints: ScepEndpointService;
  let counter = 0;

  function raService(clock: Clock, options?: ScepRaOptions) {
    return createScepRaService({
      pool: db.pool,
      cas: core.cas,
      audit: core.audit,
      keyEncryption: core.keyEncryption,
      clock,
      logger: testLogger,
      options,
    });
  }

  async function endpoint(name = `ra-${++counter}`): Promise<ScepEndpoint> {
    return endpoints.create({ name, caId: issuing.id, profileName: "device", challengeMode: "none" }, admin);
  }

  async function rows(endpointId: string) {
    return db.pool.any(sql.type(raRow)`
      SELECT id, ca_id, serial_hex, sealed_private_key, not_after FROM scep_ra_certificates
      WHERE endpoint_id = ${endpointId} ORDER BY created_at`);
  }

  async function events(endpointId: string) {
    return core.audit.find(
      { target: `scep-endpoint:${endpointId}` },
      { order: "oldest", cursor: undefined, limit: 50 },
    );
  }

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 10 }));
    rootDer = issuing.chainDer[issuing.chainDer.length - 1]!;
    endpoints = createScepEndpointService({
      pool: db.pool,
      audit: core.audit,
      clock: { now: () => new Date() },
      keyEncryption: core.keyEncryption,
      logger: testLogger,
    });
  });
  afterAll(() => stopTestCore(db, core));

  it("issues an RSA-2048 RA certificate from the endpoint's CA that openssl accepts", async () => {
    const clock = movableClock();
    const ep = await endpoint("branch-routers");
    const before = clock.now();
    const credential = await raService(clock).current(ep);

    expect(verifyChain(rootDer, [issuing.certificateDer!], credential.certificateDer)).toMatchObject({ ok: true });
    const text = certificateText(credential.certificateDer);
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
    expect(text).toMatch(/Subject: O ?= ?Chancery Test, CN ?= ?branch-routers SCEP RA/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Subject Key Identifier:/);
    expect(text).toMatch(/X509v3 Authority Key Identifier:/);
    expect(text).not.toMatch(/Extended Key Usage/);

    const cert = readCertificate(credential.certificateDer);
    expect(cert.serialHex).toBe(credential.serialHex);
    expect(cert.issuer.text).toBe(issuing.subject);
    expect(credential.notBefore).toEqual(cert.notBefore);
    expect(credential.notAfter).toEqual(cert.notAfter);
    // A year, backdated an hour for devices whose clocks run behind, but never before the CA itself.
    expect(Math.abs(cert.notAfter.getTime() - (before.getTime() + 365 * dayMs))).toBeLessThan(5000);
    const backdated = Math.max(before.getTime() - 3_600_000, issuing.notBefore!.getTime());
    expect(Math.abs(cert.notBefore.getTime() - backdated)).toBeLessThan(5000);

    // The private key is the certificate's: what is encrypted to the certificate opens with it.
    expect(credential.privateKey.type).toBe("private");
    const publicKey = createPublicKey({ key: Buffer.from(cert.publicKey.der), format: "der", type: "spki" });
    const sealed = publicEncrypt({ key: publicKey, padding: rsa.RSA_PKCS1_OAEP_PADDING }, Buffer.from("cek"));
    expect(privateDecrypt({ key: credential.privateKey, padding: rsa.RSA_PKCS1_OAEP_PADDING }, sealed).toString()).toBe(
      "cek",
    );

    // Stored sealed under the KEK, bound to the row.
    const [stored] = await rows(ep.id);
    const pkcs8 = credential.privateKey.export({ format: "der", type: "pkcs8" });
    expect(stored!.sealed_private_key.includes(pkcs8.subarray(pkcs8.length - 64))).toBe(false);
    expect(core.keyEncryption.open(stored!.sealed_private_key, raSealBinding(stored!.id))).toEqual(pkcs8);

    const [created] = await events(ep.id).then((list) => list.filter((e) => e.action === "scep.ra.create"));
    expect(created).toMatchObject({
      actor: "system",
      details: { raCertificateId: credential.id, serial: credential.serialHex, caId: issuing.id },
    });
  });

  it("cuts the common name to 64 characters", async () => {
    const ep = await endpoint("a".repeat(63));
    const credential = await raService(movableClock()).current(ep);
    const cn = readCertificate(credential.certificateDer).subject.attributes.find((a) => a.type === "CN")!.value;
    expect(cn).toBe(`${"a".repeat(56)} SCEP RA`);
    expect(cn).toHaveLength(64);
  });

  it("makes one RA certificate when replicas ask at once, and keeps it in memory", async () => {
    const ep = await endpoint();
    const clock = movableClock();
    const replicas = [raService(clock), raService(clock), raService(clock)];
    const results = await Promise.all([...replicas, replicas[0]!].map((ra) => ra.current(ep)));
    expect(new Set(results.map((c) => c.id)).size).toBe(1);
    expect(await rows(ep.id)).toHaveLength(1);
    expect((await events(ep.id)).filter((e) => e.action.startsWith("scep.ra."))).toHaveLength(1);
    // Later calls answer from memory: the same object.
    expect(await replicas[0]!.current(ep)).toBe(results[0]);
  });

  it("rotates when less than a third of the lifetime is left, and keeps the older one valid", async () => {
    const ep = await endpoint();
    const clock = movableClock();
    const ra = raService(clock, { lifetimeSeconds: 3 * 86_400 });
    const first = await ra.current(ep);
    clock.advance(1.9 * dayMs);
    expect((await ra.current(ep)).id).toBe(first.id);
    clock.advance(0.2 * dayMs);
    const second = await ra.current(ep);
    expect(second.id).not.toBe(first.id);
    expect(second.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
    // Another replica, with the same clock, finds it rather than making a third.
    expect((await raService(clock, { lifetimeSeconds: 3 * 86_400 }).current(ep)).id).toBe(second.id);
    expect((await ra.valid(ep)).map((c) => c.id)).toEqual([second.id, first.id]);
    const made = (await events(ep.id)).filter((e) => e.action === "scep.ra.create");
    expect(made.map((e) => e.details["replaces"])).toEqual([undefined, first.serialHex]);

    // Once the first has expired it is no longer offered, and a day later it is pruned.
    clock.advance(1 * dayMs);
    expect((await ra.valid(ep)).map((c) => c.id)).toEqual([second.id]);
    clock.advance(2 * dayMs);
    const third = await ra.current(ep);
    expect((await rows(ep.id)).map((r) => r.id)).toEqual([second.id, third.id]);
  });

  it("rotate() makes a new one at once, audited with who asked; valid() returns both, newest first", async () => {
    const ep = await endpoint();
    const clock = movableClock();
    const ra = raService(clock);
    const first = await ra.current(ep);
    const rotated = await ra.rotate(ep, admin);
    expect(rotated.id).not.toBe(first.id);
    expect(await ra.current(ep)).toBe(rotated);
    const valid = await ra.valid(ep);
    expect(valid.map((c) => c.id)).toEqual([rotated.id, first.id]);
    // Opened keys are kept, not opened again on every call.
    expect(valid[0]).toBe(rotated);
    const rotation = (await events(ep.id)).find((e) => e.action === "scep.ra.rotate");
    expect(rotation).toMatchObject({
      actor: admin.actor,
      sourceIp: admin.sourceIp,
      details: { raCertificateId: rotated.id, replaces: first.serialHex },
    });
  });

  it("makes the next RA certificate from the new CA when the endpoint's CA changes", async () => {
    const other = await core.cas.createRoot(
      {
        name: "scep-ra-other",
        subject: [{ type: "CN", value: "Other Root" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 30,
      },
      admin,
    );
    const ep = await endpoint();
    const clock = movableClock();
    const ra = raService(clock);
    const first = await ra.current(ep);
    const moved = await endpoints.update(ep.id, { caId: other.id }, admin);
    const second = await ra.current(moved);
    expect(second.id).not.toBe(first.id);
    expect(readCertificate(second.certificateDer).issuer.text).toBe("CN=Other Root");
    expect(verifyChain(other.certificateDer!, [], second.certificateDer)).toMatchObject({ ok: true });
    // Capped at the CA's own notAfter (30 days, not a year).
    expect(second.notAfter.getTime()).toBe(other.notAfter!.getTime());
    // A device may still hold the old RA certificate: both open envelopes.
    expect((await ra.valid(moved)).map((c) => c.id)).toEqual([second.id, first.id]);
    expect((await rows(ep.id)).map((r) => r.ca_id)).toEqual([issuing.id, other.id]);
    // A caller still holding the old endpoint gets the certificate of the CA now stored.
    expect((await raService(clock).current(ep)).id).toBe(second.id);
  });

  it("does not rotate on every call when the CA expires before the renewal point", async () => {
    const shortCa = await core.cas.createRoot(
      {
        name: "scep-ra-short",
        subject: [{ type: "CN", value: "Short Root" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 2,
      },
      admin,
    );
    const ep = await endpoints.create(
      { name: "ra-short", caId: shortCa.id, profileName: "device", challengeMode: "none" },
      admin,
    );
    const clock = movableClock();
    const ra = raService(clock);
    const first = await ra.current(ep);
    expect(first.notAfter.getTime()).toBe(shortCa.notAfter!.getTime());
    clock.advance(dayMs);
    expect((await ra.current(ep)).id).toBe(first.id);
    expect((await raService(clock).current(ep)).id).toBe(first.id);
    expect(await rows(ep.id)).toHaveLength(1);
  });

  it("refuses to make one for a disabled CA, and for an unknown endpoint", async () => {
    const spare = await core.cas.createRoot(
      {
        name: "scep-ra-disabled",
        subject: [{ type: "CN", value: "Disabled" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 30,
      },
      admin,
    );
    const ep = await endpoints.create(
      { name: "ra-disabled", caId: spare.id, profileName: "device", challengeMode: "none" },
      admin,
    );
    await core.cas.setEnabled(spare.id, false, admin);
    const err = await raService(movableClock())
      .current(ep)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChanceryError);
    expect(err).toMatchObject({ code: "failed_precondition" });
    await endpoints.delete(ep.id, admin);
    expect(
      await raService(movableClock())
        .current(ep)
        .catch((e: unknown) => e),
    ).toMatchObject({ code: "not_found" });
  });

  it("refuses bad options", () => {
    expect(() => raService(movableClock(), { lifetimeSeconds: 60 })).toThrow(/lifetime/);
    expect(() => raService(movableClock(), { renewBeforeFraction: 1 })).toThrow(/fraction/);
  });
});
