import type { Socket } from "node:net";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { ChannelBinding } from "../../src/core/est/channel-binding.ts";

/** What the TLS layer says about an EST client: its certificate chain as sent, and the channel binding. */
export interface TlsClientFacts {
  readonly peerCertificatesDer: readonly Buffer[];
  readonly channelBinding: ChannelBinding | null;
}

/** A client cannot make us walk a longer chain than this. */
const maxChain = 10;

/**
 * The client certificate chain (leaf first, as the peer sent it: the TLS
 * layer does not verify it, src/core/est/client-certificate.ts does, per
 * label) and the channel binding of the connection:
 *
 * - TLS 1.2: tls-unique, RFC 5929 §3.1: the first Finished message of the
 *   latest handshake. The client sends the first one in a full handshake
 *   (the server's view: getPeerFinished), the server in an abbreviated
 *   (resumed) one (getFinished).
 * - TLS 1.3: tls-exporter, RFC 9266 §2: 32 bytes exported with the label
 *   "EXPORTER-Channel-Binding" and no context (TLS 1.3 treats no context and
 *   an empty one alike, RFC 8446 §7.5).
 */
export function readTlsClient(socket: Socket): TlsClientFacts {
  const tls = socket as TLSSocket;
  if (typeof tls.getPeerCertificate !== "function") return { peerCertificatesDer: [], channelBinding: null };
  // Read for each request, not cached per connection: a TLS 1.2 renegotiation changes both.
  return { peerCertificatesDer: peerChain(tls), channelBinding: channelBinding(tls) };
}

function peerChain(tls: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let certificate: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
  const seen = new Set<DetailedPeerCertificate>();
  while (certificate?.raw && !seen.has(certificate) && chain.length < maxChain) {
    seen.add(certificate);
    chain.push(certificate.raw);
    // Node links a self-issued certificate to itself; the Set stops the walk there.
    certificate = certificate.issuerCertificate;
  }
  return chain;
}

function channelBinding(tls: TLSSocket): ChannelBinding | null {
  try {
    const protocol = tls.getProtocol();
    if (protocol === "TLSv1.3")
      return {
        type: "tls-exporter",
        // An empty context: in TLS 1.3 the same as none (RFC 8446 §7.5), which RFC 9266 asks for.
        value: tls.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)),
      };
    if (protocol === "TLSv1.2") {
      const finished = tls.isSessionReused() ? tls.getFinished() : tls.getPeerFinished();
      return finished ? { type: "tls-unique", value: finished } : null;
    }
  } catch {
    // A socket closing under us has no binding; a CSR that needs one is then refused.
  }
  return null;
}
