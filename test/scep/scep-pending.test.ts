import { createHash, createPublicKey, randomUUID, X509Certificate } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scepRequester } from "../../src/core/scep/scep-requester.ts";
import { failInfos, pkiStatuses } from "../../src/core/scep/scep-types.ts";
import {
  certificateNames,
  certPoll,
  pkcsReq,
  type ScepTestRequest,
  type ScepTestSigner,
} from "../../src/core/scep/testing/scep-test-client.ts";
import { insertScepTransaction } from "../../src/store/scep-transaction-store.ts";
import { holdAuditHead, untilWaitingForAuditHead } from "../support/audit-head-lock.ts";
import {
  device,
  rsaKeys,
  type ScepTestEnv,
  startScepTestEnv,
  staticChallenge,
  transactionRow,
} from "./scep-test-env.ts";

/**
 * PENDING (RFC 8894 §3.3.2) when the profile needs an operator's approval,
 * and the device's CertPoll / GetCertInitial (messageType 20, §3.3.3)
 * following the approval queue until the certificate or the refusal comes.
 */
const endpoint = "approval";
let t: ScepTestEnv;
let keys: ReturnType<typeof rsaKeys>;
let ra: Buffer;
let issuerDer: Buffer;

beforeAll(async () => {
  t = await startScepTestEnv();
  keys = rsaKeys(5);
  await t.approvalProfile("device-approved");
  await t.endpoint(endpoint, { profileName: "device-approved" });
  ra = await t.raCertificate(endpoint);
  issuerDer = certificateNames(t.issuing.certificateDer!).subjectDer;
});
afterAll(async () => {
  await t?.stop();
});

/** A PKCSReq that waits in the queue: the request and its queue entry. */
async function pendingEnrolment(keyIndex: number, cn: string) {
  const made = device(keys[keyIndex]!, { cn, challenge: staticChallenge });
  const request = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer, transactionId: randomUUID() });
  const reply = await t.exchange(endpoint, request, ra);
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.pending);
  expect(reply.failInfo).toBeNull();
  expect(reply.certificatesDer).toHaveLength(0);
  const approver = await t.approver();
  const queued = (await t.gateway.requests.list({ state: "pending" }, approver)).requests.find(
    (r) => r.protocolRequester === scepRequester(endpoint, request.transactionId),
  );
  expect(queued, "the enrolment waits in the approval queue").toBeDefined();
  return { request, made, queueId: queued!.id };
}

/** CertPoll for `request`'s transaction, naming the subject of its CSR (the same CN as its signer). */
function poll(request: ScepTestRequest, options: { signer?: ScepTestSigner; subjectDer?: Buffer } = {}) {
  const signer = options.signer ?? request.signer;
  return certPoll(
    { issuerDer, subjectDer: options.subjectDer ?? certificateNames(request.signer.certificateDer).subjectDer },
    { raCertificateDer: ra, signer, transactionId: request.transactionId },
  );
}

/** chancery_scep_messages_total of this file's endpoint, as "<message type> <pkiStatus> [failInfo]" → count. */
async function messagesCounted(): Promise<Record<string, number>> {
  const counted: Record<string, number> = {};
  for (const { labels, value } of (await t.gateway.metrics.scepMessages.get()).values)
    if (labels.endpoint === endpoint)
      counted[`${labels.message_type} ${labels.pki_status} ${labels.fail_info}`.trim()] = value;
  return counted;
}

describe("PENDING and CertPoll", () => {
  it("PENDING, polls PENDING, then after an approval CertPoll gets the certificate; the original is then a replay", async () => {
    const before = await messagesCounted();
    const { request, queueId } = await pendingEnrolment(0, "pending-device");

    // scepclient re-sends the identical message to poll: still PENDING, nothing queued twice.
    expect((await t.exchange(endpoint, request, ra)).pkiStatus).toBe(pkiStatuses.pending);
    expect((await t.exchange(endpoint, poll(request), ra)).pkiStatus).toBe(pkiStatuses.pending);

    await t.gateway.requests.approve(queueId, {}, await t.approver());

    const answered = await t.exchange(endpoint, poll(request), ra);
    expect(answered.pkiStatus, `failInfo ${answered.failInfo}`).toBe(pkiStatuses.success);
    const certificate = new X509Certificate(answered.certificatesDer[0]!);
    expect(certificate.subject).toBe("CN=pending-device");
    expect(certificate.publicKey.equals(new X509Certificate(request.signer.certificateDer).publicKey)).toBe(true);
    expect(certificate.verify(new X509Certificate(t.issuing.certificateDer!).publicKey)).toBe(true);

    // Polling again answers the same certificate; the original PKCSReq re-sent now is a replay.
    const again = await t.exchange(endpoint, poll(request), ra);
    expect(again.certificatesDer[0]!.equals(answered.certificatesDer[0]!)).toBe(true);
    const replay = await t.exchange(endpoint, request, ra);
    expect([replay.pkiStatus, replay.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);

    const pending = await t.auditOf("scep.enrolment.pending", request.transactionId);
    const issued = await t.auditOf("scep.enrolment.issue", request.transactionId);
    expect(pending).toHaveLength(1);
    expect(issued).toHaveLength(1);
    expect(issued[0]!.details).toMatchObject({ endpoint, challengeMode: "static" });

    // Every CertRep is counted by message type and status (what an operator graphs and alerts on).
    const after = await messagesCounted();
    const added = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
    expect(added("PKCSReq PENDING")).toBe(2);
    expect(added("CertPoll PENDING")).toBe(1);
    expect(added("CertPoll SUCCESS")).toBe(2);
    expect(added("PKCSReq FAILURE badRequest")).toBe(1);
  });

  it("a rejected request: CertPoll answers FAILURE badRequest", async () => {
    const { request, queueId } = await pendingEnrolment(1, "rejected-device");
    await t.gateway.requests.reject(queueId, "not one of ours", await t.approver());
    const reply = await t.exchange(endpoint, poll(request), ra);
    expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);
    const failed = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(failed).toHaveLength(1);
    expect(String(failed[0]!.details["reason"])).toMatch(/not one of ours/);
  });

  it("settling after an approval takes the audit head before the row, as the issuance commit does, so the two cannot deadlock", async () => {
    const { request, queueId } = await pendingEnrolment(4, "settled-while-head-held");
    await t.gateway.requests.approve(queueId, {}, await t.approver());

    // Another writer holds the audit chain head (the one-statement issuance commit takes it before its rows).
    const head = await holdAuditHead(t.gateway.pool);
    const answered = t.exchange(endpoint, poll(request), ra);
    try {
      // The poll's settling waits for the head ...
      await untilWaitingForAuditHead(t.gateway.pool, "the settling");
      // ... before it touched the transaction's row: another writer gets at the row without waiting for it.
      // (Row first, this waited for the poll, which waited for the head: a deadlock.)
      const touched = await t.gateway.pool.transaction(async (tx) => {
        await tx.query(sql.unsafe`SET LOCAL lock_timeout = '3s'`);
        const result = await tx.query(sql.unsafe`
          UPDATE scep_transactions SET updated_at = updated_at WHERE transaction_id = ${request.transactionId}`);
        return result.rowCount;
      });
      expect(touched).toBe(1);
    } finally {
      await head.release();
    }
    const reply = await answered;
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
    expect(await t.auditOf("scep.enrolment.issue", request.transactionId)).toHaveLength(1);
  });

  it("CertPoll for an unknown transaction is badCertId", async () => {
    const made = device(keys[2]!, { cn: "unknown-transaction" });
    const request = certPoll(
      { issuerDer, subjectDer: certificateNames(made.signer.certificateDer).subjectDer },
      { raCertificateDer: ra, signer: made.signer, transactionId: randomUUID() },
    );
    const reply = await t.exchange(endpoint, request, ra);
    expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badCertId]);
  });

  it("CertPoll naming the transaction with another subject, or signed by another key, is badCertId", async () => {
    const { request } = await pendingEnrolment(2, "guarded-device");
    const otherSubject = certificateNames(device(keys[3]!, { cn: "someone-else" }).signer.certificateDer).subjectDer;
    const wrongSubject = await t.exchange(endpoint, poll(request, { subjectDer: otherSubject }), ra);
    expect([wrongSubject.pkiStatus, wrongSubject.failInfo]).toEqual([pkiStatuses.failure, failInfos.badCertId]);
    // Another key polling for this device's transaction learns nothing.
    const thief = device(keys[3]!, { cn: "guarded-device" }).signer;
    const stolen = await t.exchange(endpoint, poll(request, { signer: thief }), ra);
    expect([stolen.pkiStatus, stolen.failInfo]).toEqual([pkiStatuses.failure, failInfos.badCertId]);
  });
});

describe("a transactionID that is pending", () => {
  it("is found on an endpoint that decides at once, when a transaction was left pending there", async () => {
    // A static endpoint without approval writes no pending transactions itself; one is left from before its
    // profile stopped requiring approval (or from an interrupted claim). The look back for the transactionID,
    // skipped on such endpoints while nothing is pending, must then find it: a rebuilt message is a poll.
    const name = "decides-at-once";
    const created = await t.endpoint(name);
    const endpointRa = await t.raCertificate(name);
    const key = keys[4]!;
    const transactionId = randomUUID();
    const spki = createPublicKey(key).export({ type: "spki", format: "der" });
    const publicKeySha256 = createHash("sha256").update(spki).digest();
    await insertScepTransaction(t.gateway.pool, transactionRow(created.id, { transactionId, publicKeySha256 }), {
      state: "pending",
    });
    const made = device(key, { cn: "left-pending", challenge: staticChallenge });
    const rebuilt = pkcsReq(made.csr, { raCertificateDer: endpointRa, signer: made.signer, transactionId });
    const reply = await t.exchange(name, rebuilt, endpointRa);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.pending);
    expect(reply.certificatesDer).toHaveLength(0);
    // A new transaction on the same endpoint still enrols at once.
    const other = device(keys[3]!, { cn: "enrols-at-once", challenge: staticChallenge });
    const fresh = pkcsReq(other.csr, {
      raCertificateDer: endpointRa,
      signer: other.signer,
      transactionId: randomUUID(),
    });
    expect((await t.exchange(name, fresh, endpointRa)).pkiStatus).toBe(pkiStatuses.success);
  });

  it("a new PKCSReq with the same transactionID for another key is refused with badRequest", async () => {
    const { request } = await pendingEnrolment(4, "contested-device");
    const intruder = device(keys[3]!, { cn: "contested-device", challenge: staticChallenge });
    const hijack = pkcsReq(intruder.csr, {
      raCertificateDer: ra,
      signer: intruder.signer,
      transactionId: request.transactionId,
    });
    const reply = await t.exchange(endpoint, hijack, ra);
    expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);
  });

  it("a rebuilt PKCSReq (new nonce) from the same key is a poll: PENDING, not a second queue entry", async () => {
    const { request, made } = await pendingEnrolment(4, "rebuilt-device");
    const rebuilt = pkcsReq(made.csr, {
      raCertificateDer: ra,
      signer: made.signer,
      transactionId: request.transactionId,
    });
    expect((await t.exchange(endpoint, rebuilt, ra)).pkiStatus).toBe(pkiStatuses.pending);
    const queued = (await t.gateway.requests.list({ state: "pending" }, await t.approver())).requests.filter(
      (r) => r.protocolRequester === scepRequester(endpoint, request.transactionId),
    );
    expect(queued).toHaveLength(1);
  });
});
