import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import tls from "node:tls";
import { children, raw, readRoot } from "../../src/core/x509/der-reader.ts";
import {
  contextConstructed,
  derInteger,
  derOid,
  octetString,
  sequence,
  setOf,
  tlvOf,
  utf8String,
} from "../../src/core/x509/der-writer.ts";
import { encodeExtension } from "../../src/core/x509/extensions.ts";
import { encodeGeneralName } from "../../src/core/x509/general-name.ts";
import { encodeName, type NameAttribute } from "../../src/core/x509/name.ts";
import { oids } from "../../src/core/x509/oids.ts";
import { pemEncode } from "../../src/core/x509/pem.ts";
import { encodeSigned } from "../../src/core/x509/sign-certificate.ts";

/**
 * A small EST client for tests: raw HTTP/1.1 over node:tls, so a test can
 * read the connection's channel binding before it writes the CSR that
 * carries it (RFC 7030 §3.5), present a client certificate, and pin the TLS
 * version. Node's https client would hide the socket until the request is sent.
 */

export interface EstResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  text(): string;
}

export interface EstCallOptions {
  readonly port: number;
  readonly ca: Buffer | string;
  readonly method: "GET" | "POST" | "PUT" | "HEAD";
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** The body, or a function of the connection's channel binding (tls-unique / tls-exporter) that makes it. */
  readonly body?: string | Buffer | ((binding: Buffer) => string | Buffer);
  readonly certificatePem?: string;
  readonly keyPem?: string;
  readonly tlsVersion?: "TLSv1.2" | "TLSv1.3";
}

/** The client's view of the channel binding (RFC 5929 §3.1 tls-unique: a full handshake's first Finished is the client's). */
export function clientChannelBinding(socket: tls.TLSSocket): Buffer {
  if (socket.getProtocol() === "TLSv1.3")
    return socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0));
  const finished = socket.isSessionReused() ? socket.getPeerFinished() : socket.getFinished();
  if (!finished) throw new Error("no Finished message");
  return finished;
}

export function estCall(options: EstCallOptions): Promise<EstResponse> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: options.port,
      servername: "localhost",
      ca: options.ca,
      ...(options.certificatePem ? { cert: options.certificatePem, key: options.keyPem } : {}),
      ...(options.tlsVersion ? { minVersion: options.tlsVersion, maxVersion: options.tlsVersion } : {}),
    });
    const chunks: Buffer[] = [];
    socket.on("error", reject);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("end", () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    socket.on("secureConnect", () => {
      const body =
        typeof options.body === "function" ? options.body(clientChannelBinding(socket)) : (options.body ?? "");
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1");
      const headers = {
        Host: `localhost:${options.port}`,
        Connection: "close",
        ...(options.method === "POST" || bytes.length > 0 ? { "Content-Length": String(bytes.length) } : {}),
        ...options.headers,
      };
      const head = `${options.method} ${options.path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("")}\r\n`;
      socket.write(Buffer.concat([Buffer.from(head, "latin1"), bytes]));
    });
  });
}

function parseResponse(raw: Buffer): EstResponse {
  const split = raw.indexOf("\r\n\r\n");
  if (split < 0) throw new Error(`not an HTTP response: ${raw.toString("latin1").slice(0, 200)}`);
  const [statusLine, ...lines] = raw.subarray(0, split).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(split + 4);
  if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status, headers, body, text: () => body.toString("utf8") };
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = body.indexOf("\r\n", offset);
    const size = Number.parseInt(body.subarray(offset, lineEnd).toString("latin1"), 16);
    if (!size) return Buffer.concat(out);
    out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

export interface TestCsr {
  readonly der: Buffer;
  readonly base64: string;
  readonly privateKey: KeyObject;
  readonly keyPem: string;
}

/**
 * A PKCS#10 request built here, so tests control every attribute: a
 * challengePassword (UTF8String: base64 has "+" "/" "=", all PrintableString
 * too, but this is what OpenSSL writes for non-ASCII-safe input), SANs in an
 * extensionRequest, and RFC 7030 §4.4.1.2 AsymmetricDecryptKeyIdentifier.
 */
export function makeCsr(options: {
  subject: readonly NameAttribute[];
  dnsNames?: readonly string[];
  challengePassword?: string;
  asymmetricKeyId?: Buffer;
  privateKey?: KeyObject;
  keyType?: "ec" | "rsa";
}): TestCsr {
  const privateKey =
    options.privateKey ??
    (options.keyType === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey
      : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
  const spki = createPrivateKeySpki(privateKey);
  const attributes: Uint8Array[] = [];
  if (options.challengePassword !== undefined)
    attributes.push(sequence([derOid(oids.challengePassword), setOf([utf8String(options.challengePassword)])]));
  if (options.dnsNames && options.dnsNames.length > 0)
    attributes.push(
      sequence([
        derOid(oids.extensionRequest),
        setOf([
          sequence([
            encodeExtension({
              oid: oids.subjectAltName,
              critical: false,
              value: sequence(options.dnsNames.map((value) => encodeGeneralName({ type: "dns", value }))),
            }),
          ]),
        ]),
      ]),
    );
  if (options.asymmetricKeyId)
    attributes.push(sequence([derOid("1.2.840.113549.1.9.16.2.54"), setOf([octetString(options.asymmetricKeyId)])]));
  const info = sequence([derInteger(0), encodeName(options.subject), spki, tlvOf(contextConstructed(0), attributes)]);
  const isRsa = privateKey.asymmetricKeyType === "rsa";
  const algorithm = isRsa
    ? sequence([derOid(oids.sha256WithRsa), Uint8Array.of(5, 0)])
    : sequence([derOid(oids.ecdsaWithSha256)]);
  const signature = sign("sha256", info, { key: privateKey, dsaEncoding: "der" });
  const der = Buffer.from(encodeSigned(info, algorithm, signature));
  return {
    der,
    base64: der.toString("base64"),
    privateKey,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

function createPrivateKeySpki(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ type: "spki", format: "der" });
}

/** The certificates of a certs-only PKCS#7 (RFC 5652 §5: ContentInfo [0] SignedData, certificates [0]), DER. */
export function certificatesOfPkcs7(der: Uint8Array): Buffer[] {
  const root = readRoot(der);
  const [, explicit] = children(der, root);
  const [signedData] = children(der, explicit!);
  const field = children(der, signedData!).find((node) => node.tag === contextConstructed(0));
  return field ? children(der, field).map((node) => Buffer.from(raw(der, node))) : [];
}

/** A certs-only answer (base64 body) to the certificates it holds, PEM. */
export function certificatesPemOf(body: string | Buffer): string[] {
  return certificatesOfPkcs7(Buffer.from(body.toString().replace(/\s+/g, ""), "base64")).map((der) =>
    pemEncode("CERTIFICATE", der),
  );
}
