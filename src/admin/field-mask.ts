import { clone, create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ChanceryError } from "../core/errors.ts";

type Fields = Record<string, unknown>;

/**
 * AIP-134 partial update of a resource message: each update_mask path
 * (proto field names joined by ".", AIP-161), e.g. "validity.max", replaces
 * that field of `current` with the one in `patch`; a field unset in `patch`
 * (or under a message unset there) is cleared, so it takes its default.
 * "*" replaces every field except the immutable ones. An unknown path, a
 * path through a repeated or scalar field, and an immutable field (or
 * anything inside it) are invalid_argument. Returns a new message; the
 * arguments are left unchanged.
 */
export function applyUpdateMask<Desc extends DescMessage>(
  schema: Desc,
  current: MessageShape<Desc>,
  patch: MessageShape<Desc>,
  paths: readonly string[],
  immutable: readonly string[],
): MessageShape<Desc> {
  if (paths.length === 0)
    throw new ChanceryError("invalid_argument", "update_mask must name the fields to change (AIP-134)");
  const expanded = paths.flatMap((path) =>
    path === "*" ? schema.fields.map((f) => f.name).filter((name) => !immutable.includes(name)) : [path],
  );
  const result = clone(schema, current);
  // A copy, because parts of it end up in the result, which later paths may descend into and change.
  const source = clone(schema, patch);
  for (const path of expanded) {
    if (immutable.some((field) => path === field || path.startsWith(`${field}.`)))
      throw new ChanceryError("invalid_argument", `update_mask: "${path}" cannot be updated`);
    const segments = path.split(".");
    let desc: DescMessage = schema;
    let to = result as unknown as Fields;
    let from = source as unknown as Fields;
    for (const [i, segment] of segments.entries()) {
      const field = desc.fields.find((f) => f.name === segment);
      // Oneof members live under their oneof's property; no resource updated this way has one.
      if (!field || field.oneof)
        throw new ChanceryError("invalid_argument", `update_mask: "${path}" is not a field of ${schema.name}`);
      if (i === segments.length - 1) {
        to[field.localName] = from[field.localName];
        break;
      }
      if (field.fieldKind !== "message")
        throw new ChanceryError(
          "invalid_argument",
          `update_mask: "${path}" goes through ${segment}, which is not a message field`,
        );
      const sub = field.message;
      to[field.localName] ??= create(sub);
      to = to[field.localName] as Fields;
      from = (from[field.localName] as Fields | undefined) ?? (create(sub) as unknown as Fields);
      desc = sub;
    }
  }
  return result;
}
