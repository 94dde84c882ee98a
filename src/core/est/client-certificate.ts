import { X509Certificate } from "node:crypto";

/** RFC 5280 §4.2.1.12 id-kp-clientAuth and anyExtendedKeyUsage. */
const clientAuth = "1.3.6.1.5.5.7.3.2";
const anyExtendedKeyUsage = "2.5.29.37.0";
/** Intermediates between a client certificate and its anchor; real device chains have one or two. */
const maxDepth = 6;
/** What a peer may send with its certificate; more is refused before any signature is checked. */
const maxPresented = 10;

export type ClientChainResult =
  | { readonly ok: true; readonly leaf: X509Certificate; readonly anchor: X509Certificate }
  | { readonly ok: false; readonly reason: string };

/**
 * Whether a TLS client certificate chains to one of a label's trust anchors
 * (RFC 7030 §3.3.2). The TLS layer accepts any certificate (requestCert
 * without rejectUnauthorized: each label has its own anchors, and a client
 * without a certificate may still use HTTP Basic), so the path is built and
 * checked here: each link's issuer name and signature, validity at `now`,
 * cA TRUE on every certificate above the leaf, and, when the leaf names
 * extended key usages, clientAuth among them. Intermediates come only from
 * what the client presented. An anchor is trusted as it is, whether a root or
 * an intermediate (RFC 5280 §6.1.1 (d)), but must be within its validity.
 * Revocation is not checked here: certificates we issued are checked against
 * our own records by the caller; external anchors publish nothing we fetch.
 */
export function verifyClientChain(input: {
  /** The leaf first, then what the client sent with it, DER. */
  presentedDer: readonly Uint8Array[];
  anchors: readonly X509Certificate[];
  now: Date;
}): ClientChainResult {
  const [leafDer, ...rest] = input.presentedDer;
  if (!leafDer) return { ok: false, reason: "no client certificate was presented" };
  if (input.presentedDer.length > maxPresented)
    return { ok: false, reason: `the client sent more than ${maxPresented} certificates` };
  let leaf: X509Certificate;
  const intermediates: X509Certificate[] = [];
  try {
    leaf = new X509Certificate(leafDer);
    for (const der of rest) intermediates.push(new X509Certificate(der));
  } catch {
    return { ok: false, reason: "the client certificate cannot be read" };
  }
  if (!validAt(leaf, input.now)) return { ok: false, reason: "the client certificate is expired or not yet valid" };
  const eku = leaf.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(clientAuth) && !eku.includes(anyExtendedKeyUsage))
    return { ok: false, reason: "the client certificate is not for TLS client authentication (extended key usage)" };

  let current = leaf;
  const used = new Set<X509Certificate>();
  for (let depth = 0; depth <= maxDepth; depth++) {
    for (const anchor of input.anchors) {
      if (signedBy(current, anchor)) {
        if (!validAt(anchor, input.now)) return { ok: false, reason: "the trust anchor it chains to has expired" };
        return { ok: true, leaf, anchor };
      }
    }
    const next = intermediates.find(
      (candidate) => !used.has(candidate) && candidate.ca && signedBy(current, candidate),
    );
    if (!next) break;
    if (!validAt(next, input.now))
      return { ok: false, reason: `the intermediate CA ${next.subject.replace(/\n/g, ", ")} is expired` };
    used.add(next);
    current = next;
  }
  return { ok: false, reason: "the client certificate does not chain to a trust anchor of this label" };
}

/** A label's anchors (our CA certificates and external anchors) parsed; unreadable ones are left out. */
export function parseAnchors(anchorsDer: readonly Uint8Array[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const der of anchorsDer) {
    try {
      out.push(new X509Certificate(der));
    } catch {
      // Checked when the label was saved; a CA certificate cannot become unreadable. Skip rather than fail all.
    }
  }
  return out;
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function validAt(certificate: X509Certificate, now: Date): boolean {
  return certificate.validFromDate.getTime() <= now.getTime() && now.getTime() <= certificate.validToDate.getTime();
}
