import { AcmeProblem } from "./acme-problem.ts";

const maxContacts = 10;
// A plain addr-spec; RFC 8555 §7.3 lets a server refuse what it cannot use.
const mailbox = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

/**
 * The contact array of a newAccount or account update (RFC 8555 §7.3):
 * mailto: URLs only (unsupportedContact for other schemes), one address
 * each, no hfields such as "?subject=" (invalidContact, RFC 8555 §7.3).
 */
export function parseContacts(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AcmeProblem("malformed", "contact must be an array of mailto: URLs");
  if (value.length > maxContacts) throw new AcmeProblem("invalidContact", `at most ${maxContacts} contacts`);
  const contacts: string[] = [];
  for (const entry of value) {
    if (typeof entry !== "string") throw new AcmeProblem("malformed", "each contact must be a string URL");
    const shown = entry.slice(0, 200);
    if (!/^mailto:/i.test(entry))
      throw new AcmeProblem("unsupportedContact", `contact "${shown}" is not a mailto: URL; only mailto: is supported`);
    const address = entry.slice("mailto:".length);
    if (address.includes("?") || address.includes(","))
      throw new AcmeProblem("invalidContact", `contact "${shown}" must be one address without hfields`);
    if (address.length > 254 || !mailbox.test(address))
      throw new AcmeProblem("invalidContact", `contact "${shown}" is not a valid email address`);
    contacts.push(`mailto:${address}`);
  }
  return contacts;
}
