/**
 * RFC 8659 §4.2 issue / issuewild property value:
 *
 *   issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
 *   issuer-domain-name = label *("." label)
 *   label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
 *   parameters = (parameter *WSP ";" *WSP parameters) / parameter
 *   parameter = tag *WSP "=" *WSP value
 *   tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
 *   value = *(%x21-3A / %x3C-7E)
 */
export interface CaaIssueValue {
  /** Lower case; undefined for an empty name (";": no CA may issue, §4.2). */
  readonly issuerDomainName: string | undefined;
  /** Parameter tags lower-cased; values as published. A repeated tag keeps every value. */
  readonly parameters: ReadonlyMap<string, readonly string[]>;
}

const labelPattern = "[A-Za-z0-9](?:-*[A-Za-z0-9])*";
const issuerDomainName = new RegExp(`^${labelPattern}(?:\\.${labelPattern})*$`);
const parameterPattern = new RegExp(`^(${labelPattern})[ \\t]*=[ \\t]*([\\x21-\\x3a\\x3c-\\x7e]*)$`);

/** Undefined when the value does not follow the grammar: such a record authorizes no one. */
export function parseCaaIssueValue(text: string): CaaIssueValue | undefined {
  const semicolon = text.indexOf(";");
  const namePart = (semicolon < 0 ? text : text.slice(0, semicolon)).replace(/^[ \t]+|[ \t]+$/g, "");
  if (namePart !== "" && !issuerDomainName.test(namePart)) return undefined;
  const parameters = new Map<string, string[]>();
  if (semicolon >= 0) {
    const rest = text.slice(semicolon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (rest !== "") {
      for (const part of rest.split(";")) {
        const match = parameterPattern.exec(part.replace(/^[ \t]+|[ \t]+$/g, ""));
        if (!match) return undefined;
        const tag = match[1]!.toLowerCase();
        parameters.set(tag, [...(parameters.get(tag) ?? []), match[2]!]);
      }
    }
  }
  return { issuerDomainName: namePart === "" ? undefined : namePart.toLowerCase(), parameters };
}
