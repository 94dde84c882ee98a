import https from "node:https";
import acme from "acme-client";
import {
  startTestHttpServer,
  type TestHttpServer,
  unusedPort,
} from "../../src/core/acme/validation/testing/test-challenge-servers.ts";
import { startTestDnsServer, type TestDnsServer } from "../../src/core/acme/validation/testing/test-dns-server.ts";
import { startTestGateway, type TestGateway } from "../support/test-gateway.ts";

/**
 * A gateway whose ACME validator resolves names through a local test DNS
 * server and fetches http-01 answers from a local HTTP server, with an
 * acme-client (a real ACME client from npm) trusting its TLS certificate.
 */
export interface AcmeTestEnv {
  readonly env: TestGateway;
  readonly dns: TestDnsServer;
  readonly http: TestHttpServer;
  /** token → key authorization served by `http`. */
  readonly tokens: Map<string, string>;
  readonly baseUrl: string;
  readonly directoryUrl: string;
  client(accountKey?: Buffer): Promise<acme.Client>;
  stop(): Promise<void>;
}

export async function startAcmeTestEnv(acmeConfig: Record<string, unknown> = {}): Promise<AcmeTestEnv> {
  const dns = await startTestDnsServer();
  const tokens = new Map<string, string>();
  const http = await startTestHttpServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? "")?.[1];
    const answer = token ? tokens.get(token) : undefined;
    if (answer) res.writeHead(200).end(answer);
    else res.writeHead(404).end();
  });
  const port = await unusedPort();
  const baseUrl = `https://localhost:${port}`;
  const env = await startTestGateway({
    listenAcme: `127.0.0.1:${port}`,
    acme: {
      baseUrl,
      validation: { dnsResolvers: [dns.address], httpPort: http.port, timeout: "3s", attempts: 2 },
      ...acmeConfig,
    },
  });
  const agent = new https.Agent({ ca: env.rootCa, keepAlive: false });
  acme.axios.defaults.httpsAgent = agent;
  return {
    env,
    dns,
    http,
    tokens,
    baseUrl,
    directoryUrl: `${baseUrl}/acme/default/directory`,
    async client(accountKey) {
      return new acme.Client({
        directoryUrl: `${baseUrl}/acme/default/directory`,
        accountKey: accountKey ?? (await acme.crypto.createPrivateEcdsaKey()),
      });
    },
    async stop() {
      agent.destroy();
      await env.stop();
      await http.close();
      await dns.close();
    },
  };
}
