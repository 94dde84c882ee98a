import { Resolver } from "node:dns/promises";

/**
 * The DNS questions ACME validation asks (RFC 8555 §8.3–8.4, RFC 8737 §3,
 * RFC 8659 §3), answered through node:dns/promises (c-ares) against the
 * configured recursive resolvers. Answers come back as a closed set of
 * outcomes so callers can tell "the name has no such record" (final) from
 * "the resolver could not say" (transient, worth another attempt).
 */

/** One CAA record (RFC 8659 §4.1): flags octet, property tag as published, property value. */
export interface CaaRecord {
  readonly flags: number;
  readonly tag: string;
  readonly value: string;
}

export type DnsFailureReason = "servfail" | "timeout" | "refused" | "error";

export type DnsLookupResult<T> =
  /** NOERROR with at least one record of the asked type (after the resolver followed any CNAME). */
  | { readonly kind: "answer"; readonly records: readonly T[] }
  /** RCODE 3: the name does not exist. */
  | { readonly kind: "nxdomain" }
  /** NOERROR without a record of the asked type. */
  | { readonly kind: "nodata" }
  /** SERVFAIL, timeout, REFUSED or a transport error: nothing is known about the name. */
  | { readonly kind: "failure"; readonly reason: DnsFailureReason; readonly detail: string };

export interface DnsLookup {
  a(name: string): Promise<DnsLookupResult<string>>;
  aaaa(name: string): Promise<DnsLookupResult<string>>;
  /** Each TXT record's character-strings concatenated into one value (RFC 7208 §3.3 convention, as Boulder does). */
  txt(name: string): Promise<DnsLookupResult<string>>;
  caa(name: string): Promise<DnsLookupResult<CaaRecord>>;
}

export interface DnsLookupOptions {
  /** "ip", "ip:port" or "[ipv6]:port" recursive resolvers; empty = the system's (/etc/resolv.conf). */
  readonly servers: readonly string[];
  /** Per attempt, in milliseconds. */
  readonly timeoutMs: number;
  /** Attempts per server before giving up (c-ares `tries`); UDP loses packets, so default 2. */
  readonly tries?: number;
}

/** A lookup result's short form for validation records and logs. */
export function describeLookup<T>(result: DnsLookupResult<T>): unknown {
  switch (result.kind) {
    case "answer":
      return result.records;
    case "failure":
      return `${result.reason}: ${result.detail}`;
    default:
      return result.kind;
  }
}

export function createDnsLookup(options: DnsLookupOptions): DnsLookup {
  const tries = options.tries ?? 2;

  async function query<T>(
    name: string,
    ask: (resolver: Resolver, name: string) => Promise<T[]>,
  ): Promise<DnsLookupResult<T>> {
    // A fresh resolver per question: no answer cached from an earlier
    // validation attempt can satisfy this one, and cancel() below only
    // cancels this question.
    const resolver = new Resolver({ timeout: options.timeoutMs, tries });
    if (options.servers.length > 0) resolver.setServers([...options.servers]);
    // c-ares enforces the per-attempt timeout; this guard bounds the whole
    // question (all tries, and a resolver that keeps answering slowly).
    const overallMs = options.timeoutMs * tries + 1000;
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        resolver.cancel();
        reject(Object.assign(new Error(`no answer within ${overallMs} ms`), { code: "ETIMEOUT" }));
      }, overallMs);
    });
    try {
      const records = await Promise.race([ask(resolver, normalizeName(name)), guard]);
      return records.length > 0 ? { kind: "answer", records } : { kind: "nodata" };
    } catch (err) {
      return classifyError<T>(err);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    a: (name) => query(name, (r, n) => r.resolve4(n)),
    aaaa: (name) => query(name, (r, n) => r.resolve6(n)),
    txt: (name) => query(name, async (r, n) => (await r.resolveTxt(n)).map((chunks) => chunks.join(""))),
    caa: (name) => query(name, async (r, n) => (await r.resolveCaa(n)).map(toCaaRecord)),
  };
}

/** Lower case, without the root's trailing dot: the form every name is compared in. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * node:dns returns a CAA record as { critical: <flags octet>, type: "CAA",
 * <tag>: <value> }: the tag becomes a key. A record whose tag is itself
 * "critical" or "type" collides with those keys and cannot be read back;
 * it is reported as a critical record with an unreadable tag, so CAA
 * processing refuses (RFC 8659 §4.1: fail closed on what we do not
 * understand) rather than silently dropping a restriction.
 */
function toCaaRecord(record: object): CaaRecord {
  const entries = Object.entries(record) as [string, unknown][];
  const flags = entries.find(([key]) => key === "critical")?.[1];
  const tagEntry = entries.find(([key]) => key !== "critical" && key !== "type");
  if (typeof flags !== "number" || !tagEntry) return { flags: 128, tag: "", value: "" };
  return { flags, tag: tagEntry[0], value: String(tagEntry[1]) };
}

/** node:dns error codes (c-ares status names) → our outcomes. */
function classifyError<T>(err: unknown): DnsLookupResult<T> {
  const code = (err as { code?: unknown } | null)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "ENOTFOUND":
      return { kind: "nxdomain" };
    case "ENODATA":
      return { kind: "nodata" };
    case "ESERVFAIL":
      return { kind: "failure", reason: "servfail", detail: "SERVFAIL" };
    case "ETIMEOUT":
    case "ECANCELLED":
      return { kind: "failure", reason: "timeout", detail: "timed out" };
    case "EREFUSED":
      return { kind: "failure", reason: "refused", detail: "REFUSED" };
    default:
      // EBADRESP, ECONNREFUSED and the like. c-ares also answers EBADRESP for
      // records it cannot parse (a CAA record with an empty value, for one):
      // nothing is known about the name, which CAA treats as a failure.
      return { kind: "failure", reason: "error", detail: typeof code === "string" ? code : detail };
  }
}
