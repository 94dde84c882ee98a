import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import path from "node:path";
import type { Logger } from "pino";
import { createSoftwareSigner } from "../core/ca/software-signer.ts";
import type { Clock } from "../core/clock.ts";
import type { IssuanceService } from "../core/issuance/issuance-service.ts";
import { generateKeyPair } from "../core/keys/generate-key-pair.ts";
import { createCertificateSigningRequest } from "../core/x509/certificate-signing-request.ts";
import type { SubjectAltName } from "../core/x509/general-name.ts";
import { pemEncode } from "../core/x509/pem.ts";

/** PEM certificate chain and key for the HTTPS listeners. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly notAfter: Date;
}

export interface ListenerTls {
  current(): TlsMaterial;
  /** Called with the new material after a renewal, so servers can swap contexts (server.setSecureContext). */
  onRenew(listener: (material: TlsMaterial) => void): void;
  stop(): void;
}

/**
 * TLS material for the HTTPS listeners: the operator's files when given,
 * else a tls-server certificate the gateway issues itself from its own CA
 * for the configured names, kept in dataDir/tls and renewed once less than
 * `renewBeforeFraction` of its life is left (checked hourly and at start).
 */
export async function createListenerTls(deps: {
  files?: { certificateFile: string; keyFile: string } | undefined;
  selfIssued?:
    | {
        dir: string;
        names: readonly string[];
        renewBeforeFraction: number;
        caId: string;
        issuance: IssuanceService;
      }
    | undefined;
  clock: Clock;
  logger: Logger;
}): Promise<ListenerTls> {
  const log = deps.logger.child({ component: "listener-tls" });
  const listeners: Array<(m: TlsMaterial) => void> = [];
  if (deps.files) {
    const material = await readMaterial(deps.files.certificateFile, deps.files.keyFile);
    log.info({ file: deps.files.certificateFile, notAfter: material.notAfter }, "using the configured TLS certificate");
    return { current: () => material, onRenew: () => {}, stop: () => {} };
  }
  const self = deps.selfIssued;
  if (!self) throw new Error("listener TLS needs configured files or a CA to issue from");
  const certFile = path.join(self.dir, "listener.crt");
  const keyFile = path.join(self.dir, "listener.key");

  let material = existsSync(certFile) && existsSync(keyFile) ? await readMaterial(certFile, keyFile) : undefined;
  if (material && !coversNames(material, self.names)) material = undefined;

  async function renew(): Promise<TlsMaterial> {
    const key = generateKeyPair("ecdsa-p256");
    const signer = createSoftwareSigner(key.privateKeyPkcs8, { threadPool: false });
    const firstName = self!.names[0]!;
    const csrDer = await createCertificateSigningRequest({ signer, subject: [{ type: "CN", value: firstName }] });
    const sans: SubjectAltName[] = self!.names.map((name) => ({ type: isIP(name) ? "ip" : "dns", value: name }));
    const issued = await self!.issuance.issue({
      caId: self!.caId,
      profileName: "tls-server",
      csrDer,
      approved: { subject: isIP(firstName) ? [] : [{ type: "CN", value: firstName }], sans },
      requester: "gateway",
      sourceProtocol: "bootstrap",
    });
    const cert = [issued.der, ...issued.chainDer].map((der) => pemEncode("CERTIFICATE", der)).join("");
    const keyPem = pemEncode("PRIVATE KEY", key.privateKeyPkcs8);
    await mkdir(self!.dir, { recursive: true, mode: 0o700 });
    await writeFile(keyFile, keyPem, { mode: 0o600 });
    await writeFile(certFile, cert);
    log.info(
      { names: self!.names, notAfter: issued.notAfter, serial: issued.serialHex },
      "issued the listener TLS certificate",
    );
    return { cert, key: keyPem, notAfter: issued.notAfter };
  }

  function due(m: TlsMaterial): boolean {
    const notBefore = new X509Certificate(m.cert).validFrom;
    const start = new Date(notBefore).getTime();
    const end = m.notAfter.getTime();
    return deps.clock.now().getTime() >= end - (end - start) * self!.renewBeforeFraction;
  }

  if (!material || due(material)) material = await renew();
  let current = material;
  const timer = setInterval(() => {
    if (!due(current)) return;
    renew().then(
      (next) => {
        current = next;
        for (const listener of listeners) listener(next);
      },
      (err) => log.error({ err }, "renewing the listener TLS certificate failed; will retry within the hour"),
    );
  }, 3_600_000);
  timer.unref();
  return {
    current: () => current,
    onRenew: (listener) => listeners.push(listener),
    stop: () => clearInterval(timer),
  };
}

async function readMaterial(certificateFile: string, keyFile: string): Promise<TlsMaterial> {
  const cert = await readFile(certificateFile, "utf8");
  const key = await readFile(keyFile, "utf8");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certificateFile} does not hold a PEM certificate: ${(err as Error).message}`);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error("the key does not match the certificate");
  } catch (err) {
    throw new Error(`${keyFile}: ${(err as Error).message}`);
  }
  return { cert, key, notAfter: new Date(x509.validTo) };
}

function coversNames(material: TlsMaterial, names: readonly string[]): boolean {
  const x509 = new X509Certificate(material.cert);
  return names.every((name) => (isIP(name) ? x509.checkIP(name) : x509.checkHost(name)) !== undefined);
}
