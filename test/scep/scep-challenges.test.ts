import { X509Certificate } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInfos, pkiStatuses, type ScepEndpoint } from "../../src/core/scep/scep-types.ts";
import type { CertRepResult } from "../../src/core/scep/testing/scep-test-client.ts";
import { rsaKeys, type ScepTestEnv, startScepTestEnv, staticChallenge, testActor } from "./scep-test-env.ts";

/**
 * The challenge password of a PKCSReq (RFC 8894 §2.2) in static and
 * dynamic (one-time) modes, and the audit trail every enrolment leaves.
 * A dynamic endpoint's one-time challenges are enrollment secrets of its
 * scope (the shared service is tested in src/core/enrollment-secrets/); here
 * the SCEP front end spends them. A refused challenge is a FAILURE CertRep
 * with badRequest.
 */
let t: ScepTestEnv;
let keys: ReturnType<typeof rsaKeys>;
let dynamic: ScepEndpoint;

beforeAll(async () => {
  t = await startScepTestEnv();
  keys = rsaKeys(3);
  [, dynamic] = await Promise.all([t.endpoint("static-ep"), t.endpoint("dynamic-ep", { challengeMode: "dynamic" })]);
});
afterAll(async () => {
  await t?.stop();
});

const expectIssued = (reply: CertRepResult) => {
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  return new X509Certificate(reply.certificatesDer[0]!);
};
const expectRefused = (reply: CertRepResult) =>
  expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);

const mint = async (input: { lifetimeSeconds?: number; boundSubject?: string; boundSans?: string[] } = {}) => {
  const made = await t.gateway.enrollmentSecrets.mint(
    { scope: { kind: "scep_endpoint", id: dynamic.id }, ...input },
    testActor,
  );
  return { challenge: made.secret, record: made.record };
};

describe("static challenge", () => {
  it("the right one enrols", async () => {
    expectIssued((await t.enrol("static-ep", { key: keys[0]!, challenge: staticChallenge })).reply);
  });

  it("a wrong one is refused with badRequest", async () => {
    expectRefused((await t.enrol("static-ep", { key: keys[0]!, challenge: "not-the-secret-at-all" })).reply);
  });

  it("a CSR without a challengePassword is refused with badRequest", async () => {
    expectRefused((await t.enrol("static-ep", { key: keys[0]!, challenge: undefined })).reply);
  });
});

describe("dynamic (one-time) challenge", () => {
  it("a minted challenge enrols once, spent by its transactionID; reusing it is refused", async () => {
    const { challenge, record } = await mint();
    const first = await t.enrol("dynamic-ep", { key: keys[0]!, cn: "one-time-device", challenge });
    expectIssued(first.reply);
    const used = await t.gateway.enrollmentSecrets.get(record.id);
    expect(used.usedAt).not.toBeNull();
    expect(used.usedBy).toBe(first.request.transactionId);
    const again = await t.enrol("dynamic-ep", { key: keys[1]!, cn: "second-device", challenge });
    expectRefused(again.reply);
    const [failed] = await t.auditOf("scep.enrolment.fail", again.request.transactionId);
    expect(failed?.details["reason"]).toBe("the challenge password was already used");
  });

  it("an expired challenge is refused", async () => {
    const { challenge, record } = await mint({ lifetimeSeconds: 60 });
    // The shortest lifetime is a minute: age the row instead of waiting (the check reads the gateway's clock).
    await t.gateway.pool.query(
      sql.unsafe`UPDATE enrollment_secrets SET created_at = created_at - interval '3 minutes',
        expires_at = created_at - interval '1 minute' WHERE id = ${record.id}`,
    );
    const { request, reply } = await t.enrol("dynamic-ep", { key: keys[0]!, challenge });
    expectRefused(reply);
    const [failed] = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(failed?.details["reason"]).toMatch(/expired/);
  });

  it("a revoked challenge is refused", async () => {
    const { challenge, record } = await mint();
    await t.gateway.enrollmentSecrets.revoke(record.id, testActor);
    expectRefused((await t.enrol("dynamic-ep", { key: keys[0]!, challenge })).reply);
  });

  it("an unknown challenge is refused", async () => {
    expectRefused((await t.enrol("dynamic-ep", { key: keys[0]!, challenge: "never-minted-here" })).reply);
  });

  it("a challenge bound to a subject and SANs refuses other CSRs without being spent, then enrols the right one", async () => {
    const { challenge } = await mint({ boundSubject: "CN=bound-device", boundSans: ["dns:bound.devices.test"] });
    const wrongSubject = await t.enrol("dynamic-ep", {
      key: keys[2]!,
      cn: "impostor",
      sans: ["dns:bound.devices.test"],
      challenge,
    });
    expectRefused(wrongSubject.reply);
    const wrongSans = await t.enrol("dynamic-ep", {
      key: keys[2]!,
      cn: "bound-device",
      sans: ["dns:other.devices.test"],
      challenge,
    });
    expectRefused(wrongSans.reply);
    const [event] = await t.auditOf("scep.enrolment.fail", wrongSans.request.transactionId);
    expect(event?.details["reason"]).toMatch(/subject or SANs/);

    const right = await t.enrol("dynamic-ep", {
      key: keys[2]!,
      cn: "bound-device",
      sans: ["dns:bound.devices.test"],
      challenge,
    });
    const certificate = expectIssued(right.reply);
    expect(certificate.subject).toBe("CN=bound-device");
    expect(certificate.subjectAltName).toBe("DNS:bound.devices.test");
  });
});

describe("audit", () => {
  it("an issued enrolment leaves scep.enrolment.issue with its transactionID, challenge mode and serial", async () => {
    const { challenge } = await mint();
    const { request, reply } = await t.enrol("dynamic-ep", { key: keys[1]!, cn: "audited-device", challenge });
    const certificate = expectIssued(reply);
    const events = await t.auditOf("scep.enrolment.issue", request.transactionId);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({
      endpoint: "dynamic-ep",
      transactionId: request.transactionId,
      challengeMode: "dynamic",
      messageType: 19,
      // node's serialNumber is whole octets without a sign octet, as the gateway stores it: a serial whose
      // first octet is 0x0f keeps its leading "0" (stripping every leading zero failed 1 run in 16).
      serial: certificate.serialNumber.toLowerCase(),
    });
    expect(events[0]!.actor).toBe(`scep:dynamic-ep/${request.transactionId}`);
    expect(events[0]!.sourceIp).toMatch(/127\.0\.0\.1/);
    // The secret itself is never written to the audit log.
    expect(JSON.stringify(events[0]!.details)).not.toContain(challenge);
  });

  it("a refused enrolment leaves scep.enrolment.fail with the failInfo and the reason", async () => {
    const { request, reply } = await t.enrol("static-ep", { key: keys[1]!, challenge: "wrong-static-secret" });
    expectRefused(reply);
    expect(await t.auditOf("scep.enrolment.issue", request.transactionId)).toHaveLength(0);
    const events = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({
      endpoint: "static-ep",
      challengeMode: "static",
      failInfo: failInfos.badRequest,
      reason: "wrong challenge password",
    });
    expect(JSON.stringify(events[0]!.details)).not.toContain("wrong-static-secret");
  });
});
