import { createHash, webcrypto } from "node:crypto";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";
import { acmeIdentifierOid } from "../acme-tls-certificate.ts";

/**
 * Challenge responders for tests: an HTTP server (http-01), a TLS server
 * answering with an RFC 8737 validation certificate (tls-alpn-01), and a
 * TCP server that accepts and never answers (timeouts). Each listens on
 * port 0 of 127.0.0.1 or ::1. Needs the reflect-metadata polyfill that
 * vitest's setup file loads (@peculiar/x509).
 */

export interface TestServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface TestHttpServer extends TestServer {
  /** Each request's Host header and path, oldest first. */
  readonly requests: readonly { readonly host: string | undefined; readonly path: string }[];
}

export async function startTestHttpServer(
  handler: http.RequestListener,
  host: "127.0.0.1" | "::1" = "127.0.0.1",
): Promise<TestHttpServer> {
  const requests: { host: string | undefined; path: string }[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ host: req.headers.host, path: req.url ?? "" });
    handler(req, res);
  });
  return { ...(await listen(server, host)), requests };
}

/** An HTTP handler serving `keyAuthorization` for `token` under /.well-known/acme-challenge/, 404 otherwise. */
export function serveKeyAuthorization(token: string, keyAuthorization: string): http.RequestListener {
  return (req, res) => {
    if (req.url === `/.well-known/acme-challenge/${token}`) {
      res.writeHead(200, { "Content-Type": "application/octet-stream" }).end(keyAuthorization);
    } else {
      res.writeHead(404).end("not found");
    }
  };
}

/** Accepts connections and never writes a byte. */
export async function startSilentServer(host: "127.0.0.1" | "::1" = "127.0.0.1"): Promise<TestServer> {
  const server = net.createServer(() => {});
  return listen(server, host);
}

/** A port nothing listens on (bound, then released). */
export async function unusedPort(host: "127.0.0.1" | "::1" = "127.0.0.1"): Promise<number> {
  const server = await listen(net.createServer(), host);
  await server.close();
  return server.port;
}

export interface TestTlsServer extends TestServer {
  /** The SNI of each handshake that sent one, oldest first. */
  readonly serverNames: readonly string[];
}

export async function startTestTlsServer(options: {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** Default ["acme-tls/1"]; [] = no ALPN support at all. */
  readonly alpnProtocols?: readonly string[];
  readonly host?: "127.0.0.1" | "::1";
}): Promise<TestTlsServer> {
  const serverNames: string[] = [];
  const alpn = options.alpnProtocols ?? ["acme-tls/1"];
  const server = tls.createServer({
    cert: options.certificatePem,
    key: options.privateKeyPem,
    ...(alpn.length > 0 ? { ALPNProtocols: [...alpn] } : {}),
    // Seen while the ClientHello is processed, so it is recorded before the client can finish.
    SNICallback: (serverName, done) => {
      serverNames.push(serverName);
      done(null, undefined);
    },
  });
  server.on("secureConnection", (socket) => socket.end());
  // Handshake failures are what some tests are about; keep them off the console.
  server.on("tlsClientError", () => {});
  return { ...(await listen(server, options.host ?? "127.0.0.1")), serverNames };
}

export interface AcmeTlsCertificateOptions {
  /** The subjectAltName entries; normally exactly the identifier. */
  readonly subjectAltNames: readonly { readonly type: "dns" | "ip"; readonly value: string }[];
  /** Hashed into the acmeIdentifier extension; undefined = no such extension. */
  readonly keyAuthorization: string | undefined;
  /** Default true (RFC 8737 §3 requires it). */
  readonly critical?: boolean;
}

/** A self-signed P-256 certificate shaped like an RFC 8737 §3 validation certificate. */
export async function createAcmeTlsCertificate(
  options: AcmeTlsCertificateOptions,
): Promise<{ certificatePem: string; privateKeyPem: string }> {
  // lib has no DOM types here; node:crypto's webcrypto is the provider @peculiar/x509 expects.
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1];
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const extensions: x509.Extension[] = [
    new x509.SubjectAlternativeNameExtension(options.subjectAltNames.map((n) => ({ type: n.type, value: n.value }))),
  ];
  if (options.keyAuthorization !== undefined) {
    const digest = createHash("sha256").update(options.keyAuthorization).digest();
    // Authorization ::= OCTET STRING (SIZE (32)) (RFC 8737 §6.1), DER: 04 20 <digest>.
    const value = Buffer.concat([Buffer.from([0x04, 0x20]), digest]);
    extensions.push(new x509.Extension(acmeIdentifierOid, options.critical ?? true, value));
  }
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "01",
      name: "CN=ACME challenge",
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions,
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PRIVATE KEY-----\n`;
  return { certificatePem: certificate.toString("pem"), privateKeyPem };
}

async function listen(server: net.Server, host: string): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(0, host, () => {
      server.off("error", fail);
      done();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    host,
    port,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}
