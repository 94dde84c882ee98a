import { builtinObjectIdentifiers } from "./object-identifier-entry.ts";

/**
 * The ids of the OID registry's otherName SAN entries (placement
 * san_other_name), by OID, built-in entries first. This is how an otherName
 * a CSR asks for (it names an OID) is named to the issuance core (which
 * takes registry ids, as profiles and the admin API do). An OID has at most
 * one stored entry (unique per placement, migrations/0008) and may also
 * have a built-in one: a custom "upn-corp" with a value pattern next to
 * the built-in "upn".
 */
export type OtherNameIds = ReadonlyMap<string, readonly string[]>;

/** Names an otherName by its OID: the registry id it is issued as, or undefined (not issued). */
export type OtherNameNamer = (oid: string) => string | undefined;

/** `entries` as stored rows or ObjectIdentifierEntry values; those of other placements are skipped. */
export function otherNameIdsOf(
  entries: Iterable<{ readonly id: string; readonly oid: string; readonly placement: string }>,
): OtherNameIds {
  const out = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.placement !== "san_other_name") continue;
    const ids = out.get(entry.oid);
    if (ids) ids.push(entry.id);
    else out.set(entry.oid, [entry.id]);
  }
  return out;
}

/** The built-in otherName entries only (the Microsoft UPN). */
export const builtinOtherNameIds: OtherNameIds = otherNameIdsOf(builtinObjectIdentifiers);

/**
 * The namer for a CSR enrolled under a profile allowing the otherName
 * entries `allowed`: an OID with an allowed entry is named by it; another
 * registered OID by its first entry (the built-in one when there is one),
 * which the profile then refuses with a reason, as it refuses a DNS SAN it
 * does not allow; an OID nobody registered by nothing, so it is left out
 * (the gateway cannot know how to issue it).
 */
export function otherNameNamer(ids: OtherNameIds, allowed: readonly string[]): OtherNameNamer {
  return (oid) => {
    const candidates = ids.get(oid);
    if (!candidates) return undefined;
    return candidates.find((id) => allowed.includes(id)) ?? candidates[0];
  };
}
