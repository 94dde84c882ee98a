/**
 * The gateway under test for `npm run bench:ocsp`, in its own process so the
 * load generator never shares its event loop: startGateway on a throwaway
 * data directory (embedded PostgreSQL), every listener on 127.0.0.1.
 *
 * Before any load it issues one leaf certificate through the real pipeline
 * and writes, into the work directory the parent names:
 *   leaf.pem, issuer.pem, chain.pem  what an OCSP client needs
 *   issuer.key                       the issuing CA's key (0600), so that
 *                                    `openssl ocsp` as the peer responder
 *                                    gets a delegated responder certificate
 *                                    from the same CA (a throwaway bench CA)
 * then reports the revocation listener's port over IPC and serves until
 * told to stop (or its parent goes away).
 */
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import pino from "pino";
import { createSoftwareSigner } from "../../../src/core/ca/software-signer.ts";
import { generateKeyPair } from "../../../src/core/keys/generate-key-pair.ts";
import { createCertificateSigningRequest } from "../../../src/core/x509/certificate-signing-request.ts";
import { pemEncode } from "../../../src/core/x509/pem.ts";
import { bootstrapIssuingCa, openCaKey, startBenchGateway, stopOnMessage } from "../bench-gateway.ts";

export interface GatewayJob {
  readonly dataDir: string;
  readonly workDir: string;
}

export interface GatewayReady {
  readonly ocspPort: number;
  readonly serialHex: string;
  readonly pid: number;
}

const logger = pino({ level: "warn" });

async function run(job: GatewayJob): Promise<void> {
  const { gateway, config, stop } = await startBenchGateway(job.dataDir, logger);
  stopOnMessage(stop);
  const issuing = await bootstrapIssuingCa(gateway);
  const leafKey = generateKeyPair("ecdsa-p256");
  const name = "leaf.ocsp-bench.example";
  const csrDer = await createCertificateSigningRequest({
    signer: createSoftwareSigner(leafKey.privateKeyPkcs8, { threadPool: false }),
    subject: [{ type: "CN", value: name }],
  });
  const leaf = await gateway.issuance.issue({
    caId: issuing.id,
    profileName: "tls-server",
    csrDer,
    approved: { sans: [{ type: "dns", value: name }] },
    requester: "bench",
    sourceProtocol: "admin",
  });

  // The CA key for the peer responder's certificate only: a bench CA made a moment ago and thrown away after.
  const caKey = await openCaKey(gateway, config, logger, issuing.id);
  const keyFile = path.join(job.workDir, "issuer.key");
  await writeFile(keyFile, pemEncode("PRIVATE KEY", caKey), { mode: 0o600 });
  await chmod(keyFile, 0o600);
  caKey.fill(0);

  await writeFile(path.join(job.workDir, "leaf.pem"), pemEncode("CERTIFICATE", leaf.der));
  await writeFile(path.join(job.workDir, "issuer.pem"), pemEncode("CERTIFICATE", issuing.certificateDer));
  await writeFile(
    path.join(job.workDir, "chain.pem"),
    [leaf.chainDer.map((der) => pemEncode("CERTIFICATE", der))].flat().join(""),
  );
  const ready: GatewayReady = {
    ocspPort: gateway.listeners["ocsp"]!.port,
    serialHex: leaf.serialHex,
    pid: process.pid,
  };
  process.send!(ready);
}

process.once("message", (job) => {
  run(job as GatewayJob).catch((err) => {
    console.error(err);
    process.exit(1);
  });
});
