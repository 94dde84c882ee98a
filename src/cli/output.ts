import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";

export type OutputFormat = "table" | "json";

/**
 * Prints a message as protobuf JSON (what scripts read), or selected
 * columns as an aligned table (what people read).
 */
export function printMessages<D extends DescMessage>(
  format: OutputFormat,
  schema: D,
  messages: readonly MessageShape<D>[],
  columns: ReadonlyArray<[header: string, value: (m: MessageShape<D>) => string]>,
  write: (text: string) => void = (text) => process.stdout.write(text),
): void {
  if (format === "json") {
    const json = messages.map((m) => toJson(schema, m));
    write(`${JSON.stringify(json.length === 1 ? json[0] : json, null, 2)}\n`);
    return;
  }
  const rows = [columns.map(([header]) => header), ...messages.map((m) => columns.map(([, value]) => value(m)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows)
    write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
}
