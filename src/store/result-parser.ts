import { type Interceptor, type QueryResultRow, SchemaValidationError } from "slonik";

/**
 * slonik only type-checks `sql.type(schema)` queries unless an interceptor
 * runs the schema; this one does, so every typed row is validated and
 * transformed (bigint coercion, bytea as Buffer) before it reaches code.
 */
export const resultParserInterceptor: Interceptor = {
  name: "chancery-result-parser",
  transformRow(context, query, row) {
    const parser = context.resultParser;
    if (!parser) return row;
    const result = parser.safeParse(row);
    if (!result.success) throw new SchemaValidationError(query, row as never, result.error.issues as never);
    return result.data as QueryResultRow;
  },
};
