import http2 from "node:http2";
import { type ConnectRouter, createContextValues, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type Listener, listenOn } from "../ops/http-listener.ts";
import type { ListenerTls } from "../ops/listener-tls.ts";
import { normalizePeerAddress, peerAddressKey } from "./peer-address.ts";

/** Largest request message the admin API reads (a PKCS#12 import is the biggest legitimate one). */
export const adminReadMaxBytes = 4 * 1024 * 1024;

/**
 * The admin API listener: one TLS port speaking gRPC (HTTP/2), gRPC-Web and
 * the Connect protocol (JSON and binary, HTTP/1.1 or HTTP/2), served by
 * connect-node. HTTP/2 is what gRPC clients and the reflection stream need;
 * HTTP/1.1 stays on (allowHTTP1) for curl and browsers.
 */
export async function startAdminListener(options: {
  address: string;
  tls: ListenerTls;
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
}): Promise<Listener> {
  const handler = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors ?? [],
    readMaxBytes: adminReadMaxBytes,
    contextValues: (req) => createContextValues().set(peerAddressKey, normalizePeerAddress(req.socket.remoteAddress)),
  });
  const material = options.tls.current();
  const server = http2.createSecureServer({ cert: material.cert, key: material.key, allowHTTP1: true }, handler);
  // A renewed listener certificate applies to new connections at once.
  options.tls.onRenew((next) => server.setSecureContext({ cert: next.cert, key: next.key }));
  server.setTimeout(120_000);
  const bound = await listenOn(server, options.address);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  return {
    ...bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Ask HTTP/2 clients to go away; streams in progress may finish.
        for (const session of sessions) session.close();
        setTimeout(() => {
          for (const session of sessions) session.destroy();
        }, 5_000).unref();
      }),
  };
}
