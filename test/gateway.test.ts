import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config/config-schema.ts";
import { openssl } from "../src/core/x509/testing/openssl.ts";
import { startGateway } from "../src/gateway.ts";
import { loopbackListeners } from "./support/loopback-listeners.ts";
import { testLogger } from "./support/test-core.ts";
import { createTestDatabase, type TestDatabase } from "./support/test-database.ts";

describe("gateway start and stop (against an external DATABASE_URL)", () => {
  let db: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), "chancery-gw-"));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const config = () =>
    configSchema.parse({
      dataDir,
      database: { url: db.url },
      listen: loopbackListeners,
      log: { level: "silent" },
    });

  it("bootstraps, serves health and metrics, issues its own listener certificate, and keeps its CA across restarts", async () => {
    const gateway = await startGateway(config(), testLogger);
    let rootFingerprint: string | null;
    let listenerSerial: string;
    try {
      const base = `http://${gateway.listeners["metrics"]!.address}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(ready.headers.get("cache-control")).toBe("no-store");
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain("chancery_certificates_issued_total");
      expect(metrics).toContain("chancery_process_cpu_seconds_total");

      // The chain file verifies the listener certificate with openssl.
      const chain = path.join(dataDir, "ca-chain.pem");
      expect(gateway.caChainFile).toBe(chain);
      const verify = openssl([
        "verify",
        "-CAfile",
        path.join(dataDir, "root-ca.pem"),
        "-untrusted",
        chain,
        path.join(dataDir, "tls", "listener.crt"),
      ]);
      expect(verify.stdout).toContain("OK");
      const root = (await gateway.cas.list()).find((ca) => ca.kind === "root")!;
      rootFingerprint = root.fingerprintSha256;
      const printed = openssl(["x509", "-in", path.join(dataDir, "root-ca.pem"), "-noout", "-fingerprint", "-sha256"]);
      expect(printed.stdout.trim()).toBe(`sha256 Fingerprint=${rootFingerprint}`);

      // A real TLS handshake against the self-issued material, trusting only our root.
      const tls = gateway.listenerTls!.current();
      listenerSerial = openssl(["x509", "-noout", "-serial"], tls.cert).stdout;
      const server = https.createServer({ cert: tls.cert, key: tls.key }, (_req, res) => res.end("hello"));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const port = (server.address() as { port: number }).port;
        const body = await new Promise<string>((resolve, reject) => {
          https
            .get({ host: "127.0.0.1", port, path: "/", ca: readFileSync(path.join(dataDir, "root-ca.pem")) }, (res) => {
              let text = "";
              res.on("data", (chunk) => (text += chunk));
              res.on("end", () => resolve(text));
            })
            .on("error", reject);
        });
        expect(body).toBe("hello");
      } finally {
        server.close();
      }
    } finally {
      await gateway.stop();
    }

    const again = await startGateway(config(), testLogger);
    try {
      const root = (await again.cas.list()).find((ca) => ca.kind === "root")!;
      expect(root.fingerprintSha256).toBe(rootFingerprint);
      expect((await again.cas.list()).filter((ca) => ca.kind === "root")).toHaveLength(1);
      expect(openssl(["x509", "-noout", "-serial"], again.listenerTls!.current().cert).stdout).toBe(listenerSerial);
      expect((await again.audit.verify()).ok).toBe(true);
    } finally {
      await again.stop();
    }
  });

  it("refuses to start with a key-encryption key other than the one that sealed the CA keys", async () => {
    const wrong = { ...config(), keyEncryptionKey: Buffer.alloc(32, 7).toString("base64") };
    await expect(startGateway(wrong, testLogger)).rejects.toThrow(/different key-encryption key/);
  });
});
