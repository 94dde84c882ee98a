import { randomUUID } from "node:crypto";
import { createSoftwareSigner } from "../../../src/core/ca/software-signer.ts";
import type { IssuanceRequest } from "../../../src/core/issuance/issuance-request.ts";
import { generateKeyPair } from "../../../src/core/keys/generate-key-pair.ts";
import { createCertificateSigningRequest } from "../../../src/core/x509/certificate-signing-request.ts";
import type { Gateway } from "../../../src/gateway.ts";

export const dayMs = 86_400_000;
const fillConcurrency = 256;
const actor = { actor: "bootstrap" };

/** What the query shapes need to know about the store the fill produced. */
export interface FilledStore {
  readonly caIds: string[];
  readonly users: string[];
  /** When the fill started (ms since the epoch): validities are counted from here. */
  readonly start: number;
  readonly certificates: number;
  readonly fillSeconds: number;
  readonly revoked: number;
  readonly revokeSeconds: number;
}

/**
 * Fills the store through the real issuance pipeline: many concurrent
 * callers, a pool of real CSRs, three issuing CAs, two profiles, varied SANs
 * (host{i}.team{i%50}.example), requesters and validities, and ~5% revoked.
 */
export async function fillStore(gateway: Gateway, total: number): Promise<FilledStore> {
  const issuing = await gateway.cas.findByName("issuing");
  if (!issuing?.parentId) throw new Error('no bootstrap "issuing" CA under a root');
  const caIds = [issuing.id];
  for (const name of ["issuing-eu", "issuing-us"]) {
    const ca = await gateway.cas.createIntermediate(
      {
        name,
        parentId: issuing.parentId,
        subject: [
          { type: "O", value: "Bench" },
          { type: "CN", value: `Bench ${name}` },
        ],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 1825,
        pathLen: 0,
      },
      actor,
    );
    caIds.push(ca.id);
  }
  // Requesters: a few admin-API users issue most certificates, ACME accounts the rest.
  const users = Array.from({ length: 8 }, () => `user:${randomUUID()}`);
  const acmeAccounts = Array.from({ length: 40 }, (_, i) => `acme-account:bench-${i}`);
  // Distinct subscriber keys and CSRs, reused round-robin: every request still parses and checks its CSR.
  const csrs: Uint8Array[] = [];
  for (let i = 0; i < 128; i++) {
    const signer = createSoftwareSigner(generateKeyPair("ecdsa-p256").privateKeyPkcs8, { threadPool: false });
    csrs.push(
      await createCertificateSigningRequest({ signer, subject: [{ type: "CN", value: `csr${i}.bench.example` }] }),
    );
  }
  const start = Date.now();
  const request = (i: number): IssuanceRequest => {
    const server = i % 4 !== 3; // 3/4 tls-server, 1/4 tls-client
    const name = server ? `host${i}.team${i % 50}.example` : `svc${i}.team${i % 50}.example`;
    const requester = i % 5 === 4 ? acmeAccounts[i % acmeAccounts.length]! : users[i % users.length]!;
    return {
      // 1/2, 1/4, 1/4 over the three CAs.
      caId: caIds[i % 4 === 0 ? 1 : i % 4 === 1 ? 2 : 0]!,
      profileName: server ? "tls-server" : "tls-client",
      csrDer: csrs[i % csrs.length]!,
      approved: { subject: [{ type: "CN", value: name }], sans: [{ type: "dns", value: name }] },
      // Validity spread over 7..397 days so not_after bounds have a range to cut.
      validity: { notAfter: new Date(start + (7 + ((i * 7919) % 390)) * dayMs) },
      requester,
      sourceProtocol: requester.startsWith("user:") ? "admin" : "acme",
    };
  };
  const serials: string[] = new Array(total);
  let next = 0;
  const fillStart = performance.now();
  await Promise.all(
    Array.from({ length: fillConcurrency }, async () => {
      while (next < total) {
        const i = next++;
        serials[i] = (await gateway.issuance.issue(request(i))).serialHex;
      }
    }),
  );
  const fillSeconds = (performance.now() - fillStart) / 1000;
  // Revoke ~5% (every 20th), spread over the whole history.
  const toRevoke = serials.filter((_, i) => i % 20 === 10);
  let r = 0;
  const revokeStart = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (r < toRevoke.length) {
        const serialHex = toRevoke[r++]!;
        await gateway.issuance.revoke({ serialHex, reason: "superseded" }, actor);
      }
    }),
  );
  const revokeSeconds = (performance.now() - revokeStart) / 1000;
  return {
    caIds,
    users,
    start,
    certificates: total,
    fillSeconds,
    revoked: toRevoke.length,
    revokeSeconds,
  };
}
