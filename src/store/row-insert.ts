import {
  type CommonQueryMethods,
  type FragmentSqlToken,
  type IdentifierSqlToken,
  type ListSqlToken,
  sql,
} from "slonik";

/**
 * A column of a multi-row INSERT sent through unnest(): the Postgres type of
 * its array, and `jsonb` where the value travels as text and is cast on the
 * way in (a jsonb[] parameter would need its elements quoted twice).
 */
export interface InsertColumn {
  readonly name: string;
  readonly type: string;
  readonly jsonb?: true;
}

/** A table's insertable columns, with the SQL for them built once. */
export interface InsertTable {
  readonly name: string;
  readonly identifier: IdentifierSqlToken;
  readonly types: readonly string[];
  readonly names: ListSqlToken;
  readonly selected: ListSqlToken;
}

/**
 * A row for one table, its values in the table's column order, as the text
 * unnest() takes (bytea as `\x` hex, times as ISO strings) or null. A row
 * carries its table so a writer that knows nothing of it (the issuance
 * committer) can batch it with other rows for the same table.
 */
export interface TableRow {
  readonly table: InsertTable;
  readonly values: readonly (string | null)[];
}

export function insertTable(name: string, columns: readonly InsertColumn[]): InsertTable {
  const identifiers = columns.map((c) => sql.identifier([c.name]));
  return {
    name,
    identifier: sql.identifier([name]),
    types: columns.map((c) => c.type),
    names: sql.join(identifiers, sql.fragment`, `),
    selected: sql.join(
      columns.map((c, i) => (c.jsonb ? sql.fragment`${identifiers[i]!}::jsonb` : identifiers[i]!)),
      sql.fragment`, `,
    ),
  };
}

/**
 * One INSERT for any number of rows of one table: the values go as one array
 * parameter per column, so the statement's text is the same for 1 row or 500.
 * `onlyIf` is a condition evaluated once (say, that the audit head moved as
 * expected in the same statement); when false, nothing is inserted.
 */
export function insertRows(
  table: InsertTable,
  rows: readonly (readonly (string | null)[])[],
  onlyIf?: FragmentSqlToken,
): FragmentSqlToken {
  const from = sql.fragment`FROM ${sql.unnest(rows as (string | null)[][], table.types as string[])} AS t(${table.names})`;
  return onlyIf
    ? sql.fragment`INSERT INTO ${table.identifier} (${table.names}) SELECT ${table.selected} ${from} WHERE ${onlyIf}`
    : sql.fragment`INSERT INTO ${table.identifier} (${table.names}) SELECT ${table.selected} ${from}`;
}

/** The rows grouped by table, tables in the order they first appear. */
export function rowsByTable(rows: readonly TableRow[]): Map<InsertTable, (string | null)[][]> {
  const grouped = new Map<InsertTable, (string | null)[][]>();
  for (const row of rows) {
    const values = grouped.get(row.table);
    if (values) values.push(row.values as (string | null)[]);
    else grouped.set(row.table, [row.values as (string | null)[]]);
  }
  return grouped;
}

/** bytea as unnest() takes it in a text array. */
export function byteaText(bytes: Uint8Array): string {
  return `\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}

/** `rows` in one INSERT per table, tables in the order they first appear. */
export async function insertTableRows(db: CommonQueryMethods, rows: readonly TableRow[]): Promise<void> {
  for (const [table, values] of rowsByTable(rows)) await db.query(sql.unsafe`${insertRows(table, values)}`);
}
