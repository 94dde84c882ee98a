import tls from "node:tls";
import { checkAcmeTlsCertificate } from "./acme-tls-certificate.ts";
import type { ValidationInput, ValidationResult } from "./challenge-validator.ts";
import type { DnsLookup } from "./dns-lookup.ts";
import { keyAuthorizationDigest } from "./key-authorization-digest.ts";
import { connectionFailureKind } from "./network-error.ts";
import { resolveAddresses, urlHost } from "./resolve-addresses.ts";
import { reverseDnsName } from "./reverse-dns-name.ts";
import { targetHost } from "./target-host.ts";
import { validationFailure } from "./validation-outcome.ts";

export interface TlsAlpn01Options {
  readonly dns: DnsLookup;
  readonly tlsAlpnPort: number;
  /** Per connection attempt (TCP connect and TLS handshake together). */
  readonly timeoutMs: number;
}

/** RFC 8737 §6.2: the ALPN protocol ID of tls-alpn-01. */
export const acmeTlsAlpnProtocol = "acme-tls/1";

type Handshake =
  | {
      readonly kind: "done";
      readonly alpn: string | false;
      readonly certificate: Buffer | undefined;
      readonly tlsVersion: string | null;
    }
  | { readonly kind: "error"; readonly code: string; readonly timedOut: boolean };

/**
 * RFC 8737 §3 tls-alpn-01: a TLS handshake to port 443 of the identifier
 * offering only ALPN "acme-tls/1", SNI the domain (RFC 8738 §6: for an ip
 * identifier its reverse mapping name), and the self-signed certificate
 * presented must prove the key authorization. TLS 1.2 at least (RFC 8737 §4).
 */
export async function validateTlsAlpn01(input: ValidationInput, options: TlsAlpn01Options): Promise<ValidationResult> {
  const { identifier } = input;
  const host = targetHost(identifier);
  if (!host.ok) return validationFailure("malformed", host.detail, identifier, {}, false);
  const serverName = identifier.type === "ip" ? reverseDnsName(host.host)! : host.host;
  const record: Record<string, unknown> = { host: host.host, port: options.tlsAlpnPort, serverName };

  const resolution = await resolveAddresses(options.dns, host.host);
  record["dns"] = resolution.record;
  if (!resolution.ok) return validationFailure("dns", resolution.detail, identifier, record, resolution.retryable);

  let handshake: Handshake | undefined;
  for (const address of resolution.addresses) {
    record["address"] = address;
    handshake = await handshakeWith(address, options.tlsAlpnPort, serverName, options.timeoutMs);
    // Fall back to the other address family only when this address did not answer at all.
    if (handshake.kind === "done" || connectionFailureKind(handshake.code, handshake.timedOut) !== "connection") break;
  }
  if (!handshake)
    return validationFailure("dns", `no address to connect to for ${host.host}`, identifier, record, false);
  const at = `${urlHost(String(record["address"]))}:${options.tlsAlpnPort}`;

  if (handshake.kind === "error") {
    record["error"] = handshake.code;
    if (connectionFailureKind(handshake.code, handshake.timedOut) === "connection")
      return validationFailure(
        "connection",
        `${at}: ${handshake.timedOut ? "timeout" : handshake.code}`,
        identifier,
        record,
        true,
      );
    // An ALPN-aware server without acme-tls/1 ends the handshake with a no_application_protocol alert (RFC 7301 §3.2).
    return validationFailure("tls", `${at}: TLS handshake failed (${handshake.code})`, identifier, record, false);
  }

  record["alpn"] = handshake.alpn;
  record["tlsVersion"] = handshake.tlsVersion;
  // RFC 8737 §3: the server MUST verify that acme-tls/1 was negotiated.
  if (handshake.alpn !== acmeTlsAlpnProtocol)
    return validationFailure(
      "unauthorized",
      `${at}: the server did not negotiate the ALPN protocol "${acmeTlsAlpnProtocol}"`,
      identifier,
      record,
      false,
    );
  if (!handshake.certificate)
    return validationFailure("tls", `${at}: the server presented no certificate`, identifier, record, false);
  const check = checkAcmeTlsCertificate(
    handshake.certificate,
    identifier,
    host.host,
    keyAuthorizationDigest(input.keyAuthorization),
  );
  record["certificate"] = check.summary;
  if (!check.ok) return validationFailure("incorrectResponse", `${at}: ${check.detail}`, identifier, record, false);
  return { valid: true, record };
}

function handshakeWith(address: string, port: number, serverName: string, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: address,
      port,
      servername: serverName,
      ALPNProtocols: [acmeTlsAlpnProtocol],
      // RFC 8737 §3: the certificate is self-signed; it proves the key authorization, not a chain.
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    });
    const timer = setTimeout(() => settle({ kind: "error", code: "ETIMEDOUT", timedOut: true }), timeoutMs);
    let settled = false;
    const settle = (outcome: Handshake) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    socket.once("secureConnect", () => {
      const raw = socket.getPeerCertificate(false)?.raw;
      settle({
        kind: "done",
        alpn: socket.alpnProtocol ?? false,
        certificate: raw && raw.length > 0 ? raw : undefined,
        tlsVersion: socket.getProtocol(),
      });
    });
    socket.once("error", (err: Error & { code?: string }) =>
      settle({ kind: "error", code: err.code ?? err.name, timedOut: false }),
    );
    socket.once("close", () => settle({ kind: "error", code: "ECONNRESET", timedOut: false }));
  });
}
