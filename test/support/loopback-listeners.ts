/**
 * Every listener of a gateway started by a test or a benchmark: loopback,
 * ephemeral ports. One list, so a new listener is added once and no test
 * gateway binds a public default port (or collides with another running in
 * parallel). Override a key for a fixed port.
 */
export const loopbackListeners = {
  metrics: "127.0.0.1:0",
  admin: "127.0.0.1:0",
  ocsp: "127.0.0.1:0",
  acme: "127.0.0.1:0",
  scep: "127.0.0.1:0",
  est: "127.0.0.1:0",
} as const;
