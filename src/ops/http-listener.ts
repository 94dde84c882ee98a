import http from "node:http";
import https from "node:https";
import type { AddressInfo, Server } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { ListenerTls } from "./listener-tls.ts";

export interface Listener {
  /** The bound address, e.g. "127.0.0.1:9090" (useful when the port was 0). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Splits "host:port" / "[v6]:port" as accepted by the config schema. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!match) throw new Error(`bad listen address ${address}`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`bad port in listen address ${address}`);
  return { host: match[1] ?? match[2]!, port };
}

/**
 * Starts an HTTP(S) server for one protocol app with bounded timeouts, so a
 * slow or silent client cannot hold a socket forever.
 */
export async function startListener(
  handler: http.RequestListener,
  address: string,
  tls?: (SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean }) | ListenerTls,
  /** With ListenerTls: how the handshake treats client certificates (EST asks for one, the app verifies it). */
  clientCertificates?: { requestCert: boolean; rejectUnauthorized: boolean },
): Promise<Listener> {
  const options = { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 };
  let server: http.Server;
  if (tls && "current" in tls) {
    const material = tls.current();
    const secure = https.createServer(
      { ...options, ...clientCertificates, cert: material.cert, key: material.key },
      handler,
    );
    // A renewed listener certificate applies to new connections at once.
    tls.onRenew((next) => secure.setSecureContext({ cert: next.cert, key: next.key }));
    server = secure;
  } else server = tls ? https.createServer({ ...options, ...tls }, handler) : http.createServer(options, handler);
  const bound = await listenOn(server, address);
  return {
    ...bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests still running after the grace period are cut.
        setTimeout(() => server.closeAllConnections(), 5_000).unref();
      }),
  };
}

/** Binds `server` to a "host:port" listen address; resolves with the address actually bound (port 0 → real port). */
export async function listenOn(server: Server, address: string): Promise<{ address: string; port: number }> {
  const { host, port } = parseListenAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`,
    port: bound.port,
  };
}
