import { createPgDriverFactory } from "@slonik/pg-driver";
import type { DriverClient, DriverFactory } from "slonik";

/**
 * Named (server-side prepared) statements for slonik's node-postgres driver.
 *
 * slonik sends every statement unnamed, so PostgreSQL parses and plans it on
 * every execution; for the short statements of an enrolment that is most of
 * the database's work (decision 0016). node-postgres prepares a statement
 * once per connection when the query config carries a `name`, and binds it
 * afterwards: this driver hands it `{ name, text }` for the statements that
 * can be prepared (PostgreSQL's PREPARE: SELECT, INSERT, UPDATE, DELETE,
 * MERGE, VALUES, and WITH over them), the first time a connection sends them.
 * Not for a page of a listing (a LIMIT given as a parameter): prepared, the
 * admin API's certificate listing took ~2 ms more per call (p50 10-11 → 12.5-14
 * ms in `bench:admin`, the same with plan_cache_mode=force_custom_plan).
 *
 * Bounded twice, since a prepared statement lives in its backend until the
 * connection closes: at most `perConnection` statements per connection (the
 * first ones it sends; a busy connection's first statements are its hot
 * ones), and at most `distinctTexts` statement texts named in the process
 * (statements built with a varying number of rows are distinct texts).
 * Beyond either bound a statement is sent unnamed, as before.
 *
 * A prepared statement whose result columns changed under it (a migration
 * run by a newer replica added a column to a `SELECT *`) fails once with
 * "cached plan must not change result type" (SQLSTATE 0A000); that text is
 * then sent unnamed on that connection, so the next attempt succeeds.
 */
export interface PreparedStatementLimits {
  readonly perConnection: number;
  readonly distinctTexts: number;
}

export const defaultPreparedStatementLimits: PreparedStatementLimits = { perConnection: 100, distinctTexts: 2_000 };

/** The query config node-postgres takes in place of the text (its `client.query(config, values)`). */
interface NamedQuery {
  readonly name: string;
  readonly text: string;
}

// PostgreSQL's PREPARE takes these; transaction control, SET, LISTEN and DDL stay unnamed.
const preparable = /^\s*(?:select|insert|update|delete|merge|values|with)\b/i;
// A page of a listing: its LIMIT is a parameter (the page size). See above.
const pageOfListing = /\blimit\s+\$\d/i;

export function createPreparingDriverFactory(
  limits: PreparedStatementLimits = defaultPreparedStatementLimits,
): DriverFactory {
  const pgDriverFactory = createPgDriverFactory();
  /** Text → its statement name, the same on every connection; null: not preparable. */
  const names = new Map<string, string | null>();
  const nameOf = (text: string): string | null => {
    const known = names.get(text);
    if (known !== undefined) return known;
    if (names.size >= limits.distinctTexts) return null;
    const name = preparable.test(text) && !pageOfListing.test(text) ? `chancery_${names.size}` : null;
    names.set(text, name);
    return name;
  };

  return async (context) => {
    const driver = await pgDriverFactory(context);
    return {
      createClient: async () => preparing(await driver.createClient(), nameOf, limits.perConnection),
    };
  };
}

function preparing(client: DriverClient, nameOf: (text: string) => string | null, cap: number): DriverClient {
  /** Statements this connection has prepared (or is preparing), by name. */
  const prepared = new Set<string>();
  /** Texts whose prepared form broke on this connection (result type changed): sent unnamed from now on. */
  const unnamed = new Set<string>();
  const named = (text: string): NamedQuery | null => {
    const name = nameOf(text);
    if (name === null || unnamed.has(text)) return null;
    if (!prepared.has(name)) {
      if (prepared.size >= cap) return null;
      prepared.add(name);
    }
    return { name, text };
  };
  return {
    ...client,
    query: async (text, values) => {
      const config = named(text);
      if (config === null) return client.query(text, values);
      try {
        // node-postgres reads a config object where slonik's driver passes the text through.
        return await client.query(config as unknown as string, values);
      } catch (err) {
        if (resultTypeChanged(err)) unnamed.add(text);
        throw err;
      }
    },
  };
}

/** PostgreSQL's error for a prepared statement whose result columns changed since it was prepared. */
function resultTypeChanged(err: unknown): boolean {
  // slonik's driver hands this error code on as node-postgres raised it.
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return code === "0A000" && typeof message === "string" && message.includes("cached plan must not change result type");
}
