import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CertificateAuthority } from "../../src/core/ca/certificate-authority.ts";
import { isChanceryError } from "../../src/core/errors.ts";
import { pkiStatuses } from "../../src/core/scep/scep-types.ts";
import { pkcsReq, readCertsOnly, readSignedCertsOnly } from "../../src/core/scep/testing/scep-test-client.ts";
import { readCertificate } from "../../src/core/x509/parse-certificate.ts";
import { device, rsaKeys, type ScepTestEnv, startScepTestEnv, staticChallenge, testActor } from "./scep-test-env.ts";

/**
 * The GET operations of RFC 8894 §4 (GetCACaps, GetCACert, GetNextCACert),
 * the URL forms a client may use, and the HTTP refusals that come before any
 * pkiMessage exists; plus "ca" mode, where the CA itself (no RA) opens
 * envelopes and signs replies.
 */
let t: ScepTestEnv;
let root: CertificateAuthority;
let nextCa: CertificateAuthority;
let rsaCa: CertificateAuthority;
let keys: ReturnType<typeof rsaKeys>;

beforeAll(async () => {
  t = await startScepTestEnv();
  keys = rsaKeys(1);
  root = (await t.gateway.cas.list()).find((ca) => ca.name === "root")!;
  const intermediate = (name: string, cn: string, keyAlgorithm: "ecdsa-p256" | "rsa-2048") =>
    t.gateway.cas.createIntermediate(
      { name, parentId: root.id, subject: [{ type: "CN", value: cn }], keyAlgorithm, validityDays: 60, pathLen: 0 },
      testActor,
    );
  [nextCa, rsaCa] = await Promise.all([
    intermediate("next-issuing", "Next Issuing CA", "ecdsa-p256"),
    intermediate("rsa-issuing", "RSA Issuing CA", "rsa-2048"),
  ]);
  await Promise.all([
    t.endpoint("plain"),
    t.endpoint("legacy", { legacyCrypto: true }),
    t.endpoint("no-renewal", { renewalAllowed: false }),
    t.endpoint("rollover", { nextCaId: nextCa.id }),
    t.endpoint("off", { enabled: false }),
    t.endpoint("rsa-ca", { caId: rsaCa.id, caCertificateMode: "ca" }),
  ]);
});
afterAll(async () => {
  await t?.stop();
});

const capsOf = async (name: string) => {
  const answer = await t.http(`/scep/${name}?operation=GetCACaps`);
  expect(answer.status, answer.text).toBe(200);
  expect(answer.contentType).toMatch(/^text\/plain/);
  return answer.text.split("\n").filter(Boolean);
};

describe("GetCACaps", () => {
  it("advertises AES, POST, SCEPStandard, SHA-256/512 and Renewal, and no SHA-1/DES3 on a default endpoint", async () => {
    expect(await capsOf("plain")).toEqual(["AES", "POSTPKIOperation", "Renewal", "SCEPStandard", "SHA-256", "SHA-512"]);
  });

  it("adds SHA-1 and DES3 only when legacy crypto is on", async () => {
    const caps = await capsOf("legacy");
    expect(caps).toContain("SHA-1");
    expect(caps).toContain("DES3");
  });

  it("drops Renewal when renewal is off", async () => {
    const caps = await capsOf("no-renewal");
    expect(caps).not.toContain("Renewal");
    expect(caps).toContain("POSTPKIOperation");
  });

  it("offers GetNextCACert only when a next CA is set", async () => {
    expect(await capsOf("rollover")).toContain("GetNextCACert");
    expect(await capsOf("plain")).not.toContain("GetNextCACert");
  });

  it("answers the same at the /pkiclient.exe suffix clients append", async () => {
    const suffixed = await t.http("/scep/plain/pkiclient.exe?operation=GetCACaps");
    expect(suffixed.status).toBe(200);
    expect(suffixed.text.split("\n").filter(Boolean)).toEqual(await capsOf("plain"));
  });

  it("takes the operation name case-insensitively", async () => {
    expect((await t.http("/scep/plain?operation=getcacaps")).status).toBe(200);
  });
});

describe("GetCACert", () => {
  it("chain mode: application/x-x509-ca-ra-cert, the RA certificate first, then the CA chain", async () => {
    const answer = await t.http("/scep/plain?operation=GetCACert");
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe("application/x-x509-ca-ra-cert");
    const [ra, ...chain] = readCertsOnly(answer.body).certificatesDer;
    expect(chain.map((der) => der.toString("base64"))).toEqual(
      [t.issuing.certificateDer!, ...t.issuing.chainDer].map((der) => der.toString("base64")),
    );
    // The RA: RSA (clients encrypt to it), keyEncipherment + digitalSignature, issued by the endpoint's CA.
    const raCert = new X509Certificate(ra!);
    expect(raCert.publicKey.asymmetricKeyType).toBe("rsa");
    expect(raCert.verify(new X509Certificate(t.issuing.certificateDer!).publicKey)).toBe(true);
    expect(readCertificate(ra!).keyUsage).toEqual(expect.arrayContaining(["digitalSignature", "keyEncipherment"]));
    expect(readCertificate(ra!).basicConstraints?.ca ?? false).toBe(false);
  });

  it('"ca" mode: the RSA CA certificate alone, DER, application/x-x509-ca-cert', async () => {
    const answer = await t.http("/scep/rsa-ca?operation=GetCACert");
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe("application/x-x509-ca-cert");
    expect(answer.body.equals(rsaCa.certificateDer!)).toBe(true);
  });

  it('"ca" mode: a full enrolment where the CA key opens the envelope and signs the CertRep', async () => {
    const { reply } = await t.enrol("rsa-ca", {
      key: keys[0]!,
      cn: "device-rsa-ca",
      challenge: staticChallenge,
      raCertificateDer: rsaCa.certificateDer!,
    });
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
    expect(reply.signerCertificateDer.equals(rsaCa.certificateDer!)).toBe(true);
    const issued = new X509Certificate(reply.certificatesDer[0]!);
    expect(issued.subject).toBe("CN=device-rsa-ca");
    expect(issued.verify(new X509Certificate(rsaCa.certificateDer!).publicKey)).toBe(true);
  });

  it('"ca" mode on an ECDSA CA is refused at endpoint creation and when an endpoint switches to it', async () => {
    // An ECDSA CA can neither decrypt a PKCS#1/OAEP envelope nor be what a device encrypts to.
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => null,
        (err: unknown) => err,
      );
    const created = await refusal(t.endpoint("ecdsa-ca", { caCertificateMode: "ca" }));
    expect(isChanceryError(created, "failed_precondition"), String(created)).toBe(true);
    expect((created as Error).message).toMatch(/needs an RSA CA/);
    expect((await t.http("/scep/ecdsa-ca?operation=GetCACert")).status).toBe(404);

    const plain = await t.gateway.scep.endpoints.getByName("plain");
    const switched = await refusal(t.gateway.scep.endpoints.update(plain.id, { caCertificateMode: "ca" }, testActor));
    expect(isChanceryError(switched, "failed_precondition"), String(switched)).toBe(true);
  });
});

describe("RA rotation", () => {
  it("GetCACert hands out the new RA at once, and an envelope still addressed to the old RA is opened", async () => {
    await t.endpoint("rotating");
    const oldRa = await t.raCertificate("rotating");
    const endpoint = await t.gateway.scep.endpoints.getByName("rotating");
    const rotated = await t.gateway.scep.ra.rotate(endpoint, testActor);
    expect(rotated.certificateDer.equals(oldRa)).toBe(false);

    const answer = await t.http("/scep/rotating?operation=GetCACert");
    expect(readCertsOnly(answer.body).certificatesDer[0]!.equals(rotated.certificateDer)).toBe(true);
    // A device that fetched GetCACert before the rotation encrypts to the old RA; the newest RA signs the reply.
    const made = device(keys[0]!, { cn: "device-during-rotation", challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: oldRa, signer: made.signer });
    const reply = await t.exchange("rotating", request, rotated.certificateDer);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  });

  it("an envelope addressed to an RA made after the RA list was cached is opened (the list is read again)", async () => {
    await t.endpoint("rotating-cached");
    const oldRa = await t.raCertificate("rotating-cached");
    // One enrolment first: the gateway now holds the endpoint's RA list in its cache.
    const first = device(keys[0]!, { cn: "device-before-rotation", challenge: staticChallenge });
    const before = await t.exchange(
      "rotating-cached",
      pkcsReq(first.csr, { raCertificateDer: oldRa, signer: first.signer }),
      oldRa,
    );
    expect(before.pkiStatus, `failInfo ${before.failInfo}`).toBe(pkiStatuses.success);

    // Rotated as another replica would: behind the cache of the service that answers PKIOperation.
    const endpoint = await t.gateway.scep.endpoints.getByName("rotating-cached");
    const rotated = await t.gateway.scep.ra.rotate(endpoint, testActor);
    const made = device(keys[0]!, { cn: "device-after-rotation", challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: rotated.certificateDer, signer: made.signer });
    const reply = await t.exchange("rotating-cached", request, rotated.certificateDer);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  });
});

describe("GetNextCACert", () => {
  it("answers the next CA chain as a SignedData signed by the RA", async () => {
    const ra = await t.raCertificate("rollover");
    const answer = await t.http("/scep/rollover?operation=GetNextCACert");
    expect(answer.status, answer.text).toBe(200);
    expect(answer.contentType).toBe("application/x-x509-next-ca-cert");
    const signed = readSignedCertsOnly(answer.body, ra);
    expect(signed.signerCertificateDer.equals(ra)).toBe(true);
    expect(signed.certificatesDer.map((der) => der.toString("base64"))).toEqual(
      [nextCa.certificateDer!, ...nextCa.chainDer].map((der) => der.toString("base64")),
    );
  });

  it("is 404 without a next CA", async () => {
    const answer = await t.http("/scep/plain?operation=GetNextCACert");
    expect(answer.status).toBe(404);
    expect(answer.contentType).toMatch(/^text\/plain/);
  });
});

describe("HTTP refusals", () => {
  it("an unknown endpoint is 404", async () => {
    const answer = await t.http("/scep/nope?operation=GetCACaps");
    expect(answer.status).toBe(404);
    expect(answer.contentType).toMatch(/^text\/plain/);
    expect((await t.http("/scep/nope/pkiclient.exe?operation=GetCACert")).status).toBe(404);
  });

  it("a disabled endpoint is 404 for every operation", async () => {
    for (const operation of ["GetCACaps", "GetCACert", "PKIOperation&message=MA"])
      expect((await t.http(`/scep/off?operation=${operation}`)).status, operation).toBe(404);
  });

  it("an unknown or missing operation is 400 plain text", async () => {
    const unknown = await t.http("/scep/plain?operation=GetEverything");
    expect(unknown.status).toBe(400);
    expect(unknown.contentType).toMatch(/^text\/plain/);
    expect(unknown.text).toMatch(/unsupported operation/);
    const missing = await t.http("/scep/plain");
    expect(missing.status).toBe(400);
    expect(missing.text).toMatch(/operation/);
  });

  it("POST of a GET operation (GetCACaps) is 405", async () => {
    const answer = await t.http("/scep/plain?operation=GetCACaps", { method: "POST", body: "x" });
    expect(answer.status).toBe(405);
  });
});
