import type { CommonQueryMethods } from "slonik";
import { listObjectIdentifierRows } from "../../store/registry-store.ts";
import type { Clock } from "../clock.ts";
import { builtinObjectIdentifiers } from "../registry/object-identifier-entry.ts";
import { type OtherNameIds, otherNameIdsOf, otherNameNamer } from "../registry/other-name-ids.ts";
import { createTtlCache } from "../ttl-cache.ts";
import type { ParsedCsr } from "../x509/parse-csr.ts";
import { csrSans } from "./requested-sans.ts";

/** The SANs of an enrolment's CSR in text form (requested-sans.ts), otherNames named through the OID registry. */
export interface CsrSanReader {
  /**
   * csrSans of `csr` enrolled under a profile that allows the otherName
   * entries `allowedOtherNames` (its san.otherNames): an OID with two
   * entries (a built-in and a custom one) is named by the one it allows.
   */
  sans(csr: ParsedCsr, allowedOtherNames: readonly string[]): Promise<string[]>;
}

/**
 * SCEP and EST read every CSR's SANs on their hot path; the registry's
 * otherName entries are read at most once per `ttlMs` per process, as the
 * front ends read their endpoints and profiles (an entry an admin adds
 * reaches every replica within it). A CSR with no otherName reads nothing.
 */
export function createCsrSanReader(deps: { db: CommonQueryMethods; clock: Clock; ttlMs: number }): CsrSanReader {
  const ids = createTtlCache<OtherNameIds>(
    async () => otherNameIdsOf([...builtinObjectIdentifiers, ...(await listObjectIdentifierRows(deps.db))]),
    { ttlMs: deps.ttlMs, clock: deps.clock, maxEntries: 1 },
  );
  return {
    async sans(csr, allowedOtherNames) {
      const asksOtherName = csr.requestedSans.some((san) => san.otherName !== undefined);
      const registered = asksOtherName ? await ids.get("") : new Map();
      return csrSans(csr, otherNameNamer(registered, allowedOtherNames));
    },
  };
}
