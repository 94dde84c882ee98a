/** How an EST client proved who it is (RFC 7030 §3.3): a TLS client certificate or HTTP Basic. */
export type EstIdentityKind = "user" | "secret" | "certificate";

const schemes: Record<EstIdentityKind, string> = { user: "est-user", secret: "est-secret", certificate: "est-cert" };

/**
 * Who asked, as the certificate's requester and the audit record it:
 * "est-user:<label>/<user id>" (a gateway user's token), "est-secret:<label>/<secret id>"
 * (a one-time enrollment secret) or "est-cert:<label>/<SHA-256 of the client certificate>".
 * The scheme starts with "est" as the approval queue requires of EST requests
 * (src/core/requests/protocol-requests.ts); a retry after approval is matched on it.
 */
export function estRequester(kind: EstIdentityKind, labelName: string, id: string): string {
  return `${schemes[kind]}:${labelName}/${id}`;
}
