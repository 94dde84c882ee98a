import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../test/support/bootstrapped-core.ts";
import { testLogger } from "../../test/support/test-core.ts";
import type { TestDatabase } from "../../test/support/test-database.ts";
import type { CertificateAuthority } from "../core/ca/certificate-authority.ts";
import type { Clock } from "../core/clock.ts";
import { createListenerTls } from "./listener-tls.ts";

describe("listener TLS", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let dir: string;
  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore());
    dir = mkdtempSync(path.join(tmpdir(), "chancery-tls-"));
  });
  afterAll(async () => {
    await stopTestCore(db, core);
    rmSync(dir, { recursive: true, force: true });
  });

  const selfIssued = (names: string[]) => ({
    dir,
    names,
    renewBeforeFraction: 1 / 3,
    caId: issuing.id,
    issuance: core.issuance,
  });
  const at = (date: Date): Clock => ({ now: () => date });

  it("issues for the configured names, reuses a valid certificate, and renews one in its last third", async () => {
    const now = new Date();
    const first = await createListenerTls({
      selfIssued: selfIssued(["localhost", "127.0.0.1"]),
      clock: at(now),
      logger: testLogger,
    });
    const cert = new X509Certificate(first.current().cert);
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkPrivateKey(await import("node:crypto").then((c) => c.createPrivateKey(first.current().key)))).toBe(
      true,
    );
    first.stop();

    const again = await createListenerTls({
      selfIssued: selfIssued(["localhost", "127.0.0.1"]),
      clock: at(now),
      logger: testLogger,
    });
    expect(new X509Certificate(again.current().cert).serialNumber).toBe(cert.serialNumber);
    again.stop();

    // 70 of the 90 days gone: less than a third of its life is left.
    const later = new Date(now.getTime() + 70 * 86_400_000);
    const renewed = await createListenerTls({
      selfIssued: selfIssued(["localhost", "127.0.0.1"]),
      clock: at(later),
      logger: testLogger,
    });
    expect(new X509Certificate(renewed.current().cert).serialNumber).not.toBe(cert.serialNumber);
    renewed.stop();
  });

  it("re-issues when the configured names change", async () => {
    const tls = await createListenerTls({
      selfIssued: selfIssued(["localhost", "gateway.internal"]),
      clock: at(new Date()),
      logger: testLogger,
    });
    expect(new X509Certificate(tls.current().cert).checkHost("gateway.internal")).toBe("gateway.internal");
    tls.stop();
  });

  it("uses configured files, and refuses a key that does not match the certificate", async () => {
    const own = await createListenerTls({
      selfIssued: selfIssued(["localhost"]),
      clock: at(new Date()),
      logger: testLogger,
    });
    const other = path.join(dir, "other");
    const otherTls = await createListenerTls({
      selfIssued: { ...selfIssued(["localhost"]), dir: other },
      clock: at(new Date()),
      logger: testLogger,
    });
    const certFile = path.join(dir, "given.crt");
    const keyFile = path.join(dir, "given.key");
    writeFileSync(certFile, own.current().cert);
    writeFileSync(keyFile, own.current().key);
    const files = await createListenerTls({
      files: { certificateFile: certFile, keyFile },
      clock: at(new Date()),
      logger: testLogger,
    });
    expect(files.current().cert).toBe(own.current().cert);
    writeFileSync(keyFile, otherTls.current().key);
    await expect(
      createListenerTls({ files: { certificateFile: certFile, keyFile }, clock: at(new Date()), logger: testLogger }),
    ).rejects.toThrow(/does not match/);
    own.stop();
    otherTls.stop();
  });
});
