import { createPool, type DatabasePool } from "slonik";
import { createPreparingDriverFactory } from "./prepared-statements.ts";
import { resultParserInterceptor } from "./result-parser.ts";

export type { DatabasePool };

/**
 * The one slonik pool of the process. Timeouts are bounded so a stuck
 * database surfaces as an error ("unavailable") rather than a hang.
 */
export async function createDatabasePool(
  connectionUri: string,
  options: { maxConnections: number; statementTimeoutMs: number; preparedStatements?: boolean },
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
    // slonik's default sends DISCARD ALL after every release: a statement and
    // a round trip per checkout, a third of an enrolment's statements. Nothing
    // here keeps session state across a checkout: advisory locks are _xact_
    // (bootstrap's one session lock is unlocked in a finally on the same
    // connection), no SET, no temporary tables, and LISTEN has its own client.
    resetConnection: async () => {},
    interceptors: [resultParserInterceptor],
    // Off for connection poolers that hand one session's statements to another backend (decision 0016).
    ...(options.preparedStatements !== false ? { driverFactory: createPreparingDriverFactory() } : {}),
  });
}
