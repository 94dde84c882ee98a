import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createGrpcClient } from "../../src/admin/testing/grpc-test-client.ts";
import { configSchema } from "../../src/config/config-schema.ts";
import { bootstrapAdmin } from "../../src/core/identity/bootstrap-admin.ts";
import { type Gateway, startGateway } from "../../src/gateway.ts";
import { loopbackListeners } from "./loopback-listeners.ts";
import { testLogger } from "./test-core.ts";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";

/** A real gateway on a private test database, its admin listener on a free loopback port, and a first admin. */
export interface TestGateway {
  readonly gateway: Gateway;
  readonly db: TestDatabase;
  readonly dataDir: string;
  /** PEM of the root CA the admin listener's certificate chains to. */
  readonly rootCa: Buffer;
  /** A @grpc/grpc-js client for the admin listener (real gRPC over TLS). */
  readonly client: grpc.Client;
  readonly adminUsername: string;
  readonly adminToken: string;
  stop(): Promise<void>;
}

export async function startTestGateway(
  options: {
    adminUsername?: string;
    maxConnections?: number;
    /** config.acme (baseUrl, validation ...); with it, listenAcme says where the ACME listener binds. */
    acme?: Record<string, unknown>;
    listenAcme?: string;
  } = {},
): Promise<TestGateway> {
  const db = await createTestDatabase(
    options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections },
  );
  const dataDir = mkdtempSync(path.join(tmpdir(), "chancery-gateway-"));
  const gateway = await startGateway(
    configSchema.parse({
      dataDir,
      database: { url: db.url },
      listen: { ...loopbackListeners, acme: options.listenAcme ?? "127.0.0.1:0" },
      ...(options.acme ? { acme: options.acme } : {}),
      log: { level: "silent" },
    }),
    testLogger,
  );
  const rootCa = readFileSync(path.join(dataDir, "root-ca.pem"));
  const client = createGrpcClient(gateway.listeners["admin"]!.address, rootCa.toString());
  const adminUsername = options.adminUsername ?? "admin";
  const boot = await bootstrapAdmin(
    { pool: gateway.pool, users: gateway.users, tokens: gateway.tokens },
    { username: adminUsername },
  );
  return {
    gateway,
    db,
    dataDir,
    rootCa,
    client,
    adminUsername,
    adminToken: boot.token.secret,
    async stop() {
      client.close();
      await gateway.stop();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** gRPC metadata carrying a personal access token. */
export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/** Connect protocol, JSON over HTTP/1.1 + TLS, as curl would send it. */
export function connectJson(
  env: TestGateway,
  procedure: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port: env.gateway.listeners["admin"]!.port,
        path: `/${procedure}`,
        method: "POST",
        ca: env.rootCa,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(data),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || "{}") }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}
