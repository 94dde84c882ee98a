/**
 * The SCEP (RFC 8894) CMS codec: pure functions over bytes, no I/O.
 * parsePkiMessage → openEnvelope → readMessageContent read a request;
 * buildCertRep and buildSignedCertsOnly write the answers.
 */
export { buildCertRep } from "./build-cert-rep.ts";
export { readMessageContent } from "./message-content.ts";
export { openEnvelope } from "./open-envelope.ts";
export { maxPkiMessageBytes, parsePkiMessage } from "./parse-pki-message.ts";
export * from "./pki-message-types.ts";
export { buildSignedCertsOnly } from "./signed-certs-only.ts";
