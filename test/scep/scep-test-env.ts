import { type KeyObject, randomUUID } from "node:crypto";
import { expect } from "vitest";
import type { Actor } from "../../src/core/actor.ts";
import type { SealedAuditEvent } from "../../src/core/audit/audit-event.ts";
import type { CertificateAuthority } from "../../src/core/ca/certificate-authority.ts";
import { createDefaultProfiles } from "../../src/core/profiles/default-profiles.ts";
import type { RequestCaller } from "../../src/core/requests/request.ts";
import type { NewScepEndpoint, ScepEndpoint } from "../../src/core/scep/scep-types.ts";
import {
  buildTestCsr,
  type CertRepResult,
  generateRsaKey,
  pkcsReq,
  type RequestOptions,
  readCertRep,
  readCertsOnly,
  type ScepTestRequest,
  type ScepTestSigner,
  selfSignedSigner,
} from "../../src/core/scep/testing/scep-test-client.ts";
import type { NewScepTransaction } from "../../src/store/scep-transaction-store.ts";
import { startTestGateway, type TestGateway } from "../support/test-gateway.ts";

/**
 * One running gateway per SCEP test file, spoken to over real HTTP with
 * fetch on its SCEP listener (127.0.0.1, port 0), and requests built by the
 * in-repo test client (src/core/scep/testing/scep-test-client.ts), which
 * shares no CMS code with the server.
 */
export interface ScepTestEnv {
  readonly env: TestGateway;
  readonly gateway: TestGateway["gateway"];
  /** The bootstrap issuing CA (ECDSA P-256): the default CA of endpoints made here. */
  readonly issuing: CertificateAuthority;
  /** A new endpoint, by default static with `staticChallenge` on the issuing CA and the device profile. */
  endpoint(name: string, fields?: Partial<NewScepEndpoint>): Promise<ScepEndpoint>;
  /** Any request on the SCEP listener; `path` is appended to http://127.0.0.1:<port>. */
  http(path: string, init?: RequestInit): Promise<HttpAnswer>;
  /** GetCACert: the endpoint's RA certificate (the first of the chain). */
  raCertificate(endpointName: string): Promise<Buffer>;
  /** POSTs a pkiMessage; expects 200 application/x-pki-message and reads the CertRep. */
  exchange(endpointName: string, request: ScepTestRequest, raCertificateDer: Uint8Array): Promise<CertRepResult>;
  /** A PKCSReq for a device key (a fresh transactionID unless given), sent and read. */
  enrol(endpointName: string, device: DeviceOptions): Promise<{ request: ScepTestRequest; reply: CertRepResult }>;
  /** An admin caller for the approval queue. */
  approver(): Promise<RequestCaller>;
  /** A copy of the device profile that waits for one approver, usable on the issuing CA. */
  approvalProfile(name: string): Promise<void>;
  /** Audit events of `action` whose details name `transactionId`. */
  auditOf(action: string, transactionId: string): Promise<SealedAuditEvent[]>;
  stop(): Promise<void>;
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
  readonly text: string;
}

export interface DeviceOptions extends Partial<Omit<RequestOptions, "raCertificateDer" | "signer">> {
  readonly key: KeyObject;
  /** Subject CN (also the self-signed signer's CN, so CertPoll's subject matches). Default "scep-device". */
  readonly cn?: string;
  readonly challenge?: string | undefined;
  readonly sans?: readonly string[];
  /** Default: a self-signed certificate of `key`. */
  readonly signer?: ScepTestSigner;
  /** Default: fetched with GetCACert. */
  readonly raCertificateDer?: Uint8Array;
}

export const staticChallenge = "static-secret-for-tests";
export const testActor: Actor = { actor: "test" };

/**
 * A PKCSReq transaction row as another replica (or an earlier configuration) would have recorded it, for tests
 * that put one in place directly: what is not given is a fresh id, nonce, zero key hash and empty DER.
 */
export function transactionRow(
  endpointId: string,
  fields: Partial<Omit<NewScepTransaction, "endpointId">> = {},
): NewScepTransaction {
  return {
    id: randomUUID(),
    endpointId,
    transactionId: randomUUID(),
    messageType: 19,
    senderNonce: Buffer.from(randomUUID().replaceAll("-", ""), "hex"),
    publicKeySha256: Buffer.alloc(32),
    subjectDer: Buffer.alloc(0),
    csrDer: Buffer.alloc(0),
    challengeMode: "static",
    replacesSerialHex: null,
    sourceIp: null,
    now: new Date(),
    ...fields,
  };
}

/** `count` RSA keys, generated once per file (2048-bit generation costs tens of milliseconds each). */
export function rsaKeys(count: number): KeyObject[] {
  return Array.from({ length: count }, () => generateRsaKey().privateKey);
}

/** The device's CSR and self-signed signer, CN the same in both. */
export function device(
  key: KeyObject,
  options: { cn?: string; challenge?: string | undefined; sans?: readonly string[] } = {},
) {
  const cn = options.cn ?? "scep-device";
  return {
    csr: buildTestCsr({
      privateKey: key,
      subject: [["CN", cn]],
      challengePassword: options.challenge,
      sans: options.sans,
    }),
    signer: selfSignedSigner(key, { commonName: cn }),
  };
}

export async function startScepTestEnv(): Promise<ScepTestEnv> {
  const env = await startTestGateway();
  const { gateway } = env;
  const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing");
  if (!issuing) throw new Error("no issuing CA");
  const origin = `http://${gateway.listeners["scep"]!.address}`;
  const raCache = new Map<string, Buffer>();
  let approverCaller: RequestCaller | undefined;

  async function http(path: string, init?: RequestInit): Promise<HttpAnswer> {
    const response = await fetch(`${origin}${path}`, init);
    const body = Buffer.from(await response.arrayBuffer());
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body,
      text: body.toString("latin1"),
    };
  }

  async function raCertificate(endpointName: string): Promise<Buffer> {
    const cached = raCache.get(endpointName);
    if (cached) return cached;
    const answer = await http(`/scep/${endpointName}?operation=GetCACert`);
    expect(answer.status, answer.text).toBe(200);
    const first = answer.contentType.startsWith("application/x-x509-ca-cert")
      ? answer.body
      : readCertsOnly(answer.body).certificatesDer[0]!;
    raCache.set(endpointName, first);
    return first;
  }

  async function exchange(
    endpointName: string,
    request: ScepTestRequest,
    raCertificateDer: Uint8Array,
  ): Promise<CertRepResult> {
    const answer = await http(`/scep/${endpointName}/pkiclient.exe?operation=PKIOperation`, {
      method: "POST",
      headers: { "content-type": "application/x-pki-message" },
      body: request.der,
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.contentType, answer.text).toBe("application/x-pki-message");
    return readCertRep(answer.body, { request, raCertificateDer });
  }

  return {
    env,
    gateway,
    issuing,
    endpoint(name, fields = {}) {
      const mode = fields.challengeMode ?? "static";
      return gateway.scep.endpoints.create(
        {
          name,
          caId: issuing.id,
          profileName: "device",
          challengeMode: mode,
          ...(mode === "static" ? { staticChallenge } : {}),
          ...fields,
        },
        testActor,
      );
    },
    http,
    raCertificate,
    exchange,
    async enrol(endpointName, options) {
      const ra = options.raCertificateDer ?? (await raCertificate(endpointName));
      const made = device(options.key, options);
      const { key: _key, cn: _cn, challenge: _challenge, sans: _sans, ...requestOptions } = options;
      const request = pkcsReq(made.csr, {
        transactionId: randomUUID(),
        ...requestOptions,
        raCertificateDer: ra,
        signer: options.signer ?? made.signer,
      });
      return { request, reply: await exchange(endpointName, request, ra) };
    },
    async approver() {
      if (approverCaller) return approverCaller;
      const user = await gateway.users.create(
        { username: `scep-approver-${randomUUID().slice(0, 8)}`, role: "admin" },
        testActor,
      );
      approverCaller = { userId: user.id, role: "admin", assignedCaIds: [] };
      return approverCaller;
    },
    async approvalProfile(name) {
      const deviceProfile = createDefaultProfiles().find((p) => p.name === "device")!;
      await gateway.profiles.create(
        { ...deviceProfile, name, requiresApproval: { required: true, approvers: 1 } },
        testActor,
      );
      const ca = await gateway.cas.get(issuing.id);
      // An empty list allows every profile; a list must name the new one.
      if (ca.allowedProfiles.length > 0)
        await gateway.cas.setAllowedProfiles(issuing.id, [...ca.allowedProfiles, name], testActor);
    },
    async auditOf(action, transactionId) {
      const events = await gateway.audit.find({ action }, { order: "oldest", cursor: undefined, limit: 1000 });
      return events.filter((event) => event.details["transactionId"] === transactionId);
    },
    stop: () => env.stop(),
  };
}
