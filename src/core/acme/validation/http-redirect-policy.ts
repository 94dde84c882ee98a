import { isIP } from "node:net";

export interface RedirectPolicy {
  /** Ports an http: redirect may name: 80 and the configured http-01 port. */
  readonly httpPorts: ReadonlySet<number>;
  /** Ports an https: redirect may name: 443 and the configured https port. */
  readonly httpsPorts: ReadonlySet<number>;
  /** The one IP literal a redirect may name: the ip identifier being validated, if any. */
  readonly allowedIp: string | undefined;
}

export interface RedirectTarget {
  readonly scheme: "http" | "https";
  /** Host name or IP address, without brackets. */
  readonly host: string;
  readonly port: number;
  /** Path and query (the fragment is never sent, RFC 9110 §7.1). */
  readonly path: string;
  readonly url: string;
}

/**
 * RFC 8555 §8.3: the server SHOULD follow redirects. Like Boulder, we follow
 * them only to http/https on the standard ports (or the ports this gateway
 * is configured to validate on), so a validation cannot be turned into a
 * probe of arbitrary services; an IP literal is only followed when it is the
 * ip identifier itself, so every other address we connect to comes from DNS.
 */
export function redirectTarget(
  current: string,
  location: string,
  policy: RedirectPolicy,
): { ok: true; target: RedirectTarget } | { ok: false; detail: string } {
  let url: URL;
  try {
    url = new URL(location, current);
  } catch {
    return { ok: false, detail: `invalid redirect Location ${JSON.stringify(location.slice(0, 200))}` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return { ok: false, detail: `redirect to ${url.protocol} is not allowed, only http: and https:` };
  const scheme = url.protocol === "https:" ? "https" : "http";
  const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
  const allowedPorts = scheme === "https" ? policy.httpsPorts : policy.httpPorts;
  if (!allowedPorts.has(port))
    return {
      ok: false,
      detail: `redirect to port ${port} is not allowed for ${scheme}, only ${[...allowedPorts].join(", ")}`,
    };
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") return { ok: false, detail: "redirect without a host" };
  if (isIP(host) !== 0 && host !== policy.allowedIp)
    return { ok: false, detail: `redirect to the IP address ${host} is not allowed` };
  return {
    ok: true,
    target: { scheme, host, port, path: url.pathname + url.search, url: url.href.replace(/#.*$/, "") },
  };
}
