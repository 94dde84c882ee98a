import { createPublicKey } from "node:crypto";
import type { JWK } from "jose";
import { readCsr } from "../x509/parse-csr.ts";
import { identifierKey, parseIdentifier } from "./acme-identifiers.ts";
import { AcmeProblem } from "./acme-problem.ts";
import type { AcmeIdentifier } from "./acme-types.ts";

/**
 * The finalize CSR (RFC 8555 §7.4): base64url DER whose identifiers — its
 * dNSName and iPAddress SANs and its common name — are exactly the order's,
 * signed by its own key (proof of possession), and not by the account key
 * (a certificate for the account key would let its holder act as the
 * account: Boulder refuses it too). Returns the DER.
 */
export function checkFinalizeCsr(value: unknown, order: readonly AcmeIdentifier[], accountJwk: JWK): Uint8Array {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]+$/.test(value))
    throw new AcmeProblem("malformed", "csr must be the base64url DER of a PKCS#10 request (RFC 8555 §7.4)");
  const der = Buffer.from(value, "base64url");
  let parsed: ReturnType<typeof readCsr>;
  try {
    parsed = readCsr(der);
  } catch {
    throw new AcmeProblem("badCSR", "the CSR is not a PKCS#10 request");
  }
  const { csr } = parsed;
  const asked = new Set<string>();
  for (const san of csr.requestedSans) {
    if (san.type !== "dns" && san.type !== "ip")
      throw new AcmeProblem("badCSR", `the CSR asks for a ${san.type} SAN; only dns and ip identifiers can be ordered`);
    asked.add(normalised(san.type, san.value));
  }
  const commonNames = csr.subject.filter((a) => a.type === "CN").map((a) => a.value);
  if (commonNames.length > 1) throw new AcmeProblem("badCSR", "the CSR subject has more than one common name");
  const wanted = new Set(order.map(identifierKey));
  for (const cn of commonNames) {
    const key = normalised(/^[0-9.]+$|:/.test(cn) ? "ip" : "dns", cn);
    if (!wanted.has(key))
      throw new AcmeProblem(
        "badCSR",
        `the CSR common name "${cn.slice(0, 100)}" is not one of the order's identifiers`,
      );
    asked.add(key);
  }
  const missing = [...wanted].filter((k) => !asked.has(k));
  const extra = [...asked].filter((k) => !wanted.has(k));
  if (missing.length > 0 || extra.length > 0)
    throw new AcmeProblem(
      "badCSR",
      "the CSR must name exactly the order's identifiers" +
        (missing.length ? `; missing ${missing.join(", ")}` : "") +
        (extra.length ? `; not in the order ${extra.slice(0, 10).join(", ")}` : ""),
    );
  const accountSpki = createPublicKey({ key: accountJwk as never, format: "jwk" }).export({
    type: "spki",
    format: "der",
  });
  if (Buffer.from(csr.publicKeySpki).equals(accountSpki))
    throw new AcmeProblem("badCSR", "the CSR key must not be the account key");
  return der;
}

function normalised(type: "dns" | "ip", value: string): string {
  const parsed = parseIdentifier({ type, value }, { allowWildcard: true });
  return "identifier" in parsed ? identifierKey(parsed.identifier) : `${type}:${value}`;
}
