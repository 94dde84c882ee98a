import { startTestGateway, type TestGateway } from "../support/test-gateway.ts";
import { basicAuth, type EstCallOptions, type EstResponse, estCall } from "./est-client.ts";

/** A gateway with its EST listener on a loopback port, and the issuing CA's id. */
export interface EstTestEnv {
  readonly env: TestGateway;
  readonly port: number;
  readonly issuingId: string;
  /** Basic credentials of the bootstrap admin (username and personal access token). */
  readonly adminBasic: string;
  call(options: Omit<EstCallOptions, "port" | "ca">): Promise<EstResponse>;
  stop(): Promise<void>;
}

export async function startEstTestEnv(): Promise<EstTestEnv> {
  const env = await startTestGateway();
  const issuing = (await env.gateway.cas.list()).find((ca) => ca.name === "issuing");
  if (!issuing) throw new Error("no issuing CA");
  const port = env.gateway.listeners["est"]!.port;
  return {
    env,
    port,
    issuingId: issuing.id,
    adminBasic: basicAuth(env.adminUsername, env.adminToken),
    call: (options) => estCall({ ...options, port, ca: env.rootCa }),
    stop: () => env.stop(),
  };
}
