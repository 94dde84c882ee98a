import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInfos, pkiStatuses } from "../../src/core/scep/scep-types.ts";
import { pkcsReq, readCertRep, selfSignedSigner } from "../../src/core/scep/testing/scep-test-client.ts";
import { insertScepTransaction } from "../../src/store/scep-transaction-store.ts";
import { holdAuditHead, untilWaitingForAuditHead } from "../support/audit-head-lock.ts";
import {
  type DeviceOptions,
  device,
  rsaKeys,
  type ScepTestEnv,
  startScepTestEnv,
  staticChallenge,
  transactionRow,
} from "./scep-test-env.ts";

/**
 * PKCSReq as devices really send it (RFC 8894 §3): every content cipher,
 * key transport, digest and encoding a client may pick, the algorithms a
 * modern endpoint refuses (badAlg), the integrity failures answered as a
 * FAILURE CertRep with badMessageCheck (not an HTTP error), and replay.
 */
let t: ScepTestEnv;
let keys: ReturnType<typeof rsaKeys>;

beforeAll(async () => {
  t = await startScepTestEnv();
  keys = rsaKeys(4);
  await Promise.all([t.endpoint("modern"), t.endpoint("legacy", { legacyCrypto: true })]);
});
afterAll(async () => {
  await t?.stop();
});

const enrol = (endpoint: string, options: Partial<DeviceOptions> = {}) =>
  t.enrol(endpoint, { key: keys[0]!, challenge: staticChallenge, ...options });

function expectIssuedTo(reply: Awaited<ReturnType<typeof enrol>>["reply"], cn: string): X509Certificate {
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  expect(reply.failInfo).toBeNull();
  const certificate = new X509Certificate(reply.certificatesDer[0]!);
  expect(certificate.subject).toBe(`CN=${cn}`);
  expect(certificate.verify(new X509Certificate(t.issuing.certificateDer!).publicKey)).toBe(true);
  return certificate;
}

function expectRefused(reply: Awaited<ReturnType<typeof enrol>>["reply"], failInfo: number): void {
  expect(reply.pkiStatus).toBe(pkiStatuses.failure);
  expect(reply.failInfo).toBe(failInfo);
  expect(reply.certificatesDer).toHaveLength(0);
}

describe("a requester with an EC key", () => {
  it("is refused badAlg before anything is issued: a reply can only be encrypted to an RSA key", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const { request, reply } = await enrol("modern", { key: privateKey, cn: "ec-device" });
    expectRefused(reply, failInfos.badAlg);
    expect(await t.auditOf("scep.enrolment.issue", request.transactionId)).toHaveLength(0);
  });
});

describe("PKCSReq that enrols", () => {
  it("AES-128-CBC, SHA-256: the certificate for the CSR, with its SANs, in a CertRep mirroring the request", async () => {
    const { request, reply } = await enrol("modern", {
      cn: "aes128-device",
      sans: ["dns:aes128.devices.test", "ip:192.0.2.10"],
      cipher: "aes-128-cbc",
    });
    const certificate = expectIssuedTo(reply, "aes128-device");
    expect(certificate.subjectAltName).toBe("DNS:aes128.devices.test, IP Address:192.0.2.10");
    expect(certificate.publicKey.equals(new X509Certificate(request.signer.certificateDer).publicKey)).toBe(true);
    // RFC 8894 §3.2.1.5: a fresh senderNonce of ours, theirs back as recipientNonce (readCertRep checked it).
    expect(reply.senderNonce).toHaveLength(16);
    expect(reply.senderNonce.equals(request.senderNonce)).toBe(false);
    expect(reply.digest).toBe("sha256");
    expect(reply.cipher).toBe("aes-128-cbc");
  });

  it("AES-256-CBC", async () => {
    const { reply } = await enrol("modern", { cn: "aes256-device", cipher: "aes-256-cbc" });
    expectIssuedTo(reply, "aes256-device");
    expect(reply.cipher).toBe("aes-256-cbc");
  });

  it("3DES with SHA-1 on a legacy endpoint, answered in 3DES and SHA-1", async () => {
    const { reply } = await enrol("legacy", { cn: "des3-device", cipher: "des-ede3-cbc", digest: "sha1" });
    expectIssuedTo(reply, "des3-device");
    expect(reply.cipher).toBe("des-ede3-cbc");
    expect(reply.digest).toBe("sha1");
  });

  it("single DES with SHA-1 on a legacy endpoint (micromdm scepclient's choice)", async () => {
    const { reply } = await enrol("legacy", { cn: "des-device", cipher: "des-cbc", digest: "sha1" });
    expectIssuedTo(reply, "des-device");
    expect(reply.cipher).toBe("des-cbc");
  });

  it("RSA-OAEP with SHA-1 key transport", async () => {
    const { reply } = await enrol("modern", { cn: "oaep1-device", keyTransport: "rsa-oaep-sha1" });
    expectIssuedTo(reply, "oaep1-device");
  });

  it("RSA-OAEP with SHA-256 key transport", async () => {
    const { reply } = await enrol("modern", { cn: "oaep256-device", keyTransport: "rsa-oaep-sha256" });
    expectIssuedTo(reply, "oaep256-device");
  });

  it("BER with indefinite lengths and segmented OCTET STRINGs (Apple)", async () => {
    const { request, reply } = await enrol("modern", { cn: "ber-device", ber: true });
    expect(request.der.includes(Buffer.from([0x24, 0x80]))).toBe(true);
    expectIssuedTo(reply, "ber-device");
  });

  it("SHA-512 with AES-256: the CertRep mirrors both digest and cipher", async () => {
    const { reply } = await enrol("modern", { cn: "sha512-device", digest: "sha512", cipher: "aes-256-cbc" });
    expectIssuedTo(reply, "sha512-device");
    expect(reply.digest).toBe("sha512");
    expect(reply.cipher).toBe("aes-256-cbc");
  });

  it("a recipient named by subjectKeyIdentifier, and OpenSSL- and PSS-style signatures", async () => {
    expectIssuedTo(
      (await enrol("modern", { cn: "ski-device", recipientIdentifier: "subject-key-identifier" })).reply,
      "ski-device",
    );
    expectIssuedTo(
      (await enrol("modern", { cn: "rsaenc-device", signatureStyle: "rsa-encryption" })).reply,
      "rsaenc-device",
    );
    expectIssuedTo((await enrol("modern", { cn: "pss-device", signatureStyle: "pss" })).reply, "pss-device");
  });

  it("a PKCSReq for a new key signed by a certificate we issued (re-enrolment) is accepted", async () => {
    const first = await enrol("modern", { key: keys[1]!, cn: "reenrol-device" });
    expectIssuedTo(first.reply, "reenrol-device");
    const { reply } = await enrol("modern", {
      key: keys[2]!,
      cn: "reenrol-device",
      signer: { certificateDer: first.reply.certificatesDer[0]!, privateKey: keys[1]! },
    });
    const certificate = expectIssuedTo(reply, "reenrol-device");
    expect(certificate.publicKey.equals(new X509Certificate(selfSignedSigner(keys[2]!).certificateDer).publicKey)).toBe(
      true,
    );
  });
});

describe("algorithms a modern endpoint refuses with badAlg", () => {
  it("3DES content encryption", async () => {
    expectRefused((await enrol("modern", { cipher: "des-ede3-cbc" })).reply, failInfos.badAlg);
  });

  it("single DES content encryption", async () => {
    expectRefused((await enrol("modern", { cipher: "des-cbc" })).reply, failInfos.badAlg);
  });

  it("a SHA-1 digest", async () => {
    const { reply } = await enrol("modern", { digest: "sha1" });
    expectRefused(reply, failInfos.badAlg);
    expect(reply.digest).toBe("sha1");
  });
});

describe("integrity failures answered with a FAILURE CertRep, badMessageCheck", () => {
  it("a tampered signature", async () => {
    const ra = await t.raCertificate("modern");
    const made = device(keys[0]!, { challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer });
    const tampered = Buffer.from(request.der);
    // DER SignedData: the SignerInfo's signature is the last field, so the last octet is the signature's.
    tampered[tampered.length - 1]! ^= 0x01;
    const answer = await t.http("/scep/modern?operation=PKIOperation", { method: "POST", body: tampered });
    expect(answer.status, answer.text).toBe(200);
    expectRefused(readCertRep(answer.body, { request, raCertificateDer: ra }), failInfos.badMessageCheck);
  });

  it("a tampered envelope (the messageDigest no longer matches)", async () => {
    const ra = await t.raCertificate("modern");
    const made = device(keys[0]!, { challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer });
    const envelopedDataOid = Buffer.from("06092a864886f70d010703", "hex");
    const at = request.der.indexOf(envelopedDataOid);
    expect(at).toBeGreaterThan(0);
    const tampered = Buffer.from(request.der);
    tampered[at + 300]! ^= 0x01;
    const answer = await t.http("/scep/modern?operation=PKIOperation", { method: "POST", body: tampered });
    expect(answer.status, answer.text).toBe(200);
    expectRefused(readCertRep(answer.body, { request, raCertificateDer: ra }), failInfos.badMessageCheck);
  });

  it("an envelope encrypted to a certificate that is not the RA's", async () => {
    const stranger = selfSignedSigner(keys[3]!, { commonName: "not the RA" }).certificateDer;
    const ra = await t.raCertificate("modern");
    const made = device(keys[0]!, { challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: stranger, signer: made.signer });
    expectRefused(await t.exchange("modern", request, ra), failInfos.badMessageCheck);
  });

  it("a PKCSReq signed by a key that is neither the CSR's nor one we certified", async () => {
    const { reply } = await enrol("modern", { cn: "signed-by-other", signer: selfSignedSigner(keys[3]!) });
    expectRefused(reply, failInfos.badMessageCheck);
  });
});

describe("replay", () => {
  /** chancery_issuance_failures_total for `code`: an issuance refused at its commit, after its signature. */
  async function issuanceFailures(code: string): Promise<number> {
    const counted = (await t.gateway.metrics.issuanceFailures.get()).values.find((v) => v.labels.code === code);
    return counted?.value ?? 0;
  }

  it("the identical message sent again after SUCCESS is refused with badRequest", async () => {
    const ra = await t.raCertificate("modern");
    const made = device(keys[0]!, { cn: "replayed-device", challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer });
    expectIssuedTo(await t.exchange("modern", request, ra), "replayed-device");
    const refusedAtCommit = await issuanceFailures("already_exists");
    // Answered from the stored transaction before any issuing work: nothing is signed for it, however often it comes.
    for (let i = 0; i < 3; i++) expectRefused(await t.exchange("modern", request, ra), failInfos.badRequest);
    expect(await issuanceFailures("already_exists")).toBe(refusedAtCommit);
  });

  it("copies of one message sent at once get one certificate; the others are refused as replays", async () => {
    const ra = await t.raCertificate("modern");
    const made = device(keys[1]!, { cn: "raced-device", challenge: staticChallenge });
    const request = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer });
    // Sent together, the copies reach the issuance commit in one batch: the nonce is recorded there.
    const replies = await Promise.all(Array.from({ length: 4 }, () => t.exchange("modern", request, ra)));
    const issued = replies.filter((reply) => reply.pkiStatus === pkiStatuses.success);
    expect(issued).toHaveLength(1);
    expectIssuedTo(issued[0]!, "raced-device");
    for (const reply of replies.filter((r) => r !== issued[0])) expectRefused(reply, failInfos.badRequest);
    // Sent again later, a copy is refused before it is signed for: the commit refused none this time.
    const refusedAtCommit = await issuanceFailures("already_exists");
    expectRefused(await t.exchange("modern", request, ra), failInfos.badRequest);
    expect(await issuanceFailures("already_exists")).toBe(refusedAtCommit);
    expect(await t.auditOf("scep.enrolment.issue", request.transactionId)).toHaveLength(1);
    const stored = await t.gateway.issuance.list(
      { requester: `scep:modern/${request.transactionId}` },
      { pageSize: 10 },
    );
    expect(stored.certificates.map((c) => c.subject)).toEqual(["CN=raced-device"]);
  });

  it("a refusal takes the audit head before it records the nonce, as the issuance commit does, so the two cannot deadlock", async () => {
    const ra = await t.raCertificate("modern");
    const endpoint = await t.gateway.scep.endpoints.getByName("modern");
    const made = device(keys[2]!, { cn: "refused-while-head-held", challenge: "not-the-static-challenge" });
    const request = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer });

    // Another writer holds the audit chain head (the issuance commit of a copy on another replica takes it first).
    const head = await holdAuditHead(t.gateway.pool);
    const answered = t.exchange("modern", request, ra);
    try {
      // The refusal (a wrong challenge) waits for the head ...
      await untilWaitingForAuditHead(t.gateway.pool, "the refusal");
      // ... without having taken the nonce: that copy records it now without waiting for the refusal.
      const recorded = await t.gateway.pool.transaction(async (tx) => {
        await tx.query(sql.unsafe`SET LOCAL lock_timeout = '3s'`);
        return insertScepTransaction(tx, transactionRow(endpoint.id, { senderNonce: request.senderNonce }), {
          state: "pending",
        });
      });
      expect(recorded).toBe(true);
    } finally {
      await head.release();
    }
    // The refusal then finds its nonce taken and answers as a replay, with nothing of its own recorded.
    expectRefused(await answered, failInfos.badRequest);
    expect(await t.auditOf("scep.enrolment.fail", request.transactionId)).toHaveLength(0);
  });
});
