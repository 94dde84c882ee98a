import pg from "pg";
import type { Logger } from "pino";
import { type CommonQueryMethods, sql } from "slonik";

/**
 * The Postgres NOTIFY channel on which replicas tell each other that a
 * certificate was revoked, so each drops its pre-signed OCSP responses for
 * it at once (docs/decisions/0007-ocsp-responses-and-replicas.md). The
 * payload is "<caId>:<serialHex>"; a bare "<caId>" (what the first release
 * sent) still means "drop everything of that CA".
 */
export const revocationChannel = "chancery_revocations";

const payloadPattern = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?::([0-9a-f]{1,64}))?$/i;

/** A parsed notification payload; serialHex undefined means the whole CA. */
export interface RevocationNotice {
  readonly caId: string;
  readonly serialHex: string | undefined;
}

/** Reads a payload (lower-casing both parts, as the store writes them); null when malformed. */
export function parseRevocationPayload(payload: string): RevocationNotice | null {
  const match = payloadPattern.exec(payload);
  if (!match) return null;
  return { caId: match[1]!.toLowerCase(), serialHex: match[2]?.toLowerCase() };
}

/**
 * Tells every listening replica (this one included) that the certificate
 * `serialHex` of `caId` was revoked. Sent right after the revocation
 * commits: NOTIFY is delivered at commit, and a notification lost to a
 * crash in between is covered by the responders' maximum cache age.
 */
export async function notifyRevocation(db: CommonQueryMethods, caId: string, serialHex: string): Promise<void> {
  await db.query(sql.unsafe`SELECT pg_notify(${revocationChannel}, ${`${caId}:${serialHex}`})`);
}

export interface RevocationSubscription {
  /** True while LISTEN is active on a live connection. */
  readonly listening: boolean;
  close(): Promise<void>;
}

/**
 * LISTENs on the revocation channel over a dedicated connection (LISTEN
 * binds to one session, so it cannot go through the pool) and calls
 * `onRevoked` per notification. A lost connection is re-established with
 * backoff; after each (re)connect `onResync` runs, because notifications
 * sent while nobody listened are gone and caches must assume the worst.
 */
export function subscribeToRevocations(options: {
  connectionUri: string;
  onRevoked: (notice: RevocationNotice) => void;
  onResync: () => void;
  logger: Logger;
  /** First reconnect delay, doubled up to 30 s (default 500 ms). */
  retryMs?: number | undefined;
}): RevocationSubscription {
  const { logger } = options;
  const firstRetryMs = options.retryMs ?? 500;
  let retryMs = firstRetryMs;
  let client: pg.Client | null = null;
  let listening = false;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;

  const scheduleReconnect = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, retryMs);
    timer.unref();
    retryMs = Math.min(retryMs * 2, 30_000);
  };

  const drop = (c: pg.Client, err?: unknown) => {
    if (client !== c) return;
    client = null;
    listening = false;
    if (!closed) logger.warn({ err }, "OCSP revocation channel lost; reconnecting");
    c.removeAllListeners();
    // Keep an error handler: a late socket error on a dropped client must not crash the process.
    c.on("error", () => {});
    c.end().catch(() => {});
    scheduleReconnect();
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const c = new pg.Client({
      connectionString: options.connectionUri,
      application_name: "chancery-ocsp-revocations",
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    client = c;
    c.on("error", (err) => drop(c, err));
    c.on("end", () => drop(c));
    c.on("notification", (message) => {
      if (message.channel !== revocationChannel) return;
      const payload = message.payload ?? "";
      const notice = parseRevocationPayload(payload);
      if (!notice) {
        logger.warn({ payload: payload.slice(0, 100) }, "ignored a malformed revocation notification");
        return;
      }
      try {
        options.onRevoked(notice);
      } catch (err) {
        logger.error({ err, ...notice }, "revocation notification handler failed");
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${revocationChannel}`);
    } catch (err) {
      drop(c, err);
      return;
    }
    if (client !== c) return;
    listening = true;
    retryMs = firstRetryMs;
    try {
      options.onResync();
    } catch (err) {
      logger.error({ err }, "revocation resync handler failed");
    }
  }

  void connect();
  return {
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const c = client;
      client = null;
      listening = false;
      if (c) {
        c.removeAllListeners();
        c.on("error", () => {});
        await c.end().catch(() => {});
      }
    },
  };
}
