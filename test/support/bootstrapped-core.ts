import type { CertificateAuthority } from "../../src/core/ca/certificate-authority.ts";
import type { Clock } from "../../src/core/clock.ts";
import { opensslCsr } from "../../src/core/x509/testing/openssl.ts";
import { createTestCore } from "./test-core.ts";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";

export type TestCore = ReturnType<typeof createTestCore>;

export interface TestCoreOptions {
  /** Pool size of the test database (createTestDatabase's default when unset). */
  maxConnections?: number;
  /** Handed to the core, for tests that move time (the system clock when unset). */
  clock?: Clock;
}

/**
 * A private database and the core over it, as most core tests start in
 * `beforeAll`. The returned parts are plain values, so a test file keeps its
 * own `db` / `core` variables (and its test bodies) and only assigns them:
 * `({ db, core } = await startTestCore({ maxConnections: 8 }))`.
 */
export async function startTestCore(options: TestCoreOptions = {}): Promise<{ db: TestDatabase; core: TestCore }> {
  const db = await createTestDatabase({ maxConnections: options.maxConnections });
  return { db, core: createTestCore(db, { clock: options.clock }) };
}

/**
 * startTestCore, then the bootstrap a fresh gateway runs (root, issuing CA,
 * default profiles). A failed bootstrap drops the database here, since the
 * caller never received it to drop in `afterAll`.
 */
export async function startBootstrappedCore(options: TestCoreOptions = {}): Promise<{
  db: TestDatabase;
  core: TestCore;
  issuing: CertificateAuthority;
  root: CertificateAuthority;
}> {
  const { db, core } = await startTestCore(options);
  try {
    const { issuing } = await core.bootstrap();
    if (!issuing) throw new Error("bootstrap left no issuing CA");
    const root = await core.cas.get(issuing.parentId!);
    return { db, core, issuing, root };
  } catch (error) {
    await stopTestCore(db, core);
    throw error;
  }
}

/**
 * The `afterAll` of startTestCore / startBootstrappedCore: closes the core's
 * background writer, then drops the database. Either may be unset when
 * `beforeAll` failed before assigning it.
 */
export async function stopTestCore(db: TestDatabase | undefined, core: TestCore | undefined): Promise<void> {
  await core?.committer.close();
  await db?.drop();
}

/**
 * A tls-server certificate for `name` (its CN and one DNS SAN, from an openssl CSR) issued by `caId` as an
 * admin request of `requester`: what the OCSP and CRL tests revoke and look up.
 */
export function issueTlsServerCertificate(core: TestCore, caId: string, name: string, requester: string) {
  return core.issuance.issue({
    caId,
    profileName: "tls-server",
    csrDer: opensslCsr({ subject: `/CN=${name}`, sans: `DNS:${name}` }),
    approved: { sans: [{ type: "dns", value: name }] },
    requester,
    sourceProtocol: "admin",
  });
}
