/**
 * The gateway under test of a bench, in a process of its own forked by the
 * bench (scep, est, ocsp gateway-process.ts): startGateway on a throwaway
 * data directory, every listener on 127.0.0.1 (port 0), and a stop that runs
 * once, when the parent says "stop" or goes away.
 */
import type { Logger } from "pino";
import { sql } from "slonik";
import { type Config, configSchema } from "../../src/config/config-schema.ts";
import { loadKeyEncryptionKey } from "../../src/config/load-key-encryption-key.ts";
import type { CertificateAuthority } from "../../src/core/ca/certificate-authority.ts";
import { createKeyEncryption } from "../../src/core/ca/key-encryption.ts";
import { type Gateway, startGateway } from "../../src/gateway.ts";
import { loopbackListeners } from "../../test/support/loopback-listeners.ts";

export async function startBenchGateway(
  dataDir: string,
  logger: Logger,
): Promise<{ gateway: Gateway; config: Config; stop: () => Promise<void> }> {
  const config = configSchema.parse({ dataDir, listen: loopbackListeners, log: { level: "warn" } });
  const gateway = await startGateway(config, logger);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await gateway.stop();
    process.exit(0);
  };
  process.on("disconnect", () => void stop());
  return { gateway, config, stop };
}

/** For a bench whose parent only ever sends "stop". */
export function stopOnMessage(stop: () => Promise<void>): void {
  process.on("message", (message) => {
    if (message === "stop") void stop();
  });
}

/** The active CA the bootstrap made to issue from. */
export async function bootstrapIssuingCa(gateway: Gateway): Promise<CertificateAuthority & { certificateDer: Buffer }> {
  const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing" && ca.status === "active");
  if (!issuing?.certificateDer) throw new Error("the bootstrap issuing CA is missing");
  return { ...issuing, certificateDer: issuing.certificateDer };
}

/**
 * A CA's private key, PKCS#8 DER, opened with the data directory's KEK: for a bench that gives a peer
 * (openssl ocsp) or a reference measurement (raw signing) the same key. A bench CA, thrown away after.
 * The caller zeroes it when done.
 */
export async function openCaKey(gateway: Gateway, config: Config, logger: Logger, caId: string): Promise<Buffer> {
  const sealed = await gateway.pool.oneFirst(
    sql.unsafe`SELECT sealed_private_key FROM certificate_authorities WHERE id = ${caId}`,
  );
  const { kek } = loadKeyEncryptionKey(config, logger);
  try {
    return createKeyEncryption(kek).open(sealed as Buffer, `chancery/ca-key/${caId}`);
  } finally {
    kek.fill(0);
  }
}
