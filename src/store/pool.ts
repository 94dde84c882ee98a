import { createPool, type DatabasePool } from "slonik";
import { resultParserInterceptor } from "./result-parser.ts";

export type { DatabasePool };

/**
 * The one slonik pool of the process. Timeouts are bounded so a stuck
 * database surfaces as an error ("unavailable") rather than a hang.
 */
export async function createDatabasePool(
  connectionUri: string,
  options: { maxConnections: number; statementTimeoutMs: number },
): Promise<DatabasePool> {
  return createPool(connectionUri, {
    maximumPoolSize: options.maxConnections,
    connectionTimeout: 10_000,
    idleTimeout: 60_000,
    statementTimeout: options.statementTimeoutMs,
    // Bounded: a transaction that waits on the user's code for this long is a bug.
    idleInTransactionSessionTimeout: 60_000,
    // Retries are the caller's decision (issuance must not double-insert).
    queryRetryLimit: 0,
    transactionRetryLimit: 0,
    captureStackTrace: false,
    interceptors: [resultParserInterceptor],
  });
}
