import type { Metrics } from "../../ops/metrics.ts";
import { type FailInfo, failInfos, scepMessageTypes } from "./scep-types.ts";

/** What a CertRep said, for chancery_scep_messages_total. */
export type AnsweredStatus = { status: "success" } | { status: "pending" } | { status: "failure"; failInfo: FailInfo };

/** RFC 8894 §3.2.1.2 names of the message types, as operators read them in clients' logs. */
const messageTypeNames: Readonly<Record<number, string>> = {
  [scepMessageTypes.renewalReq]: "RenewalReq",
  [scepMessageTypes.pkcsReq]: "PKCSReq",
  [scepMessageTypes.certPoll]: "CertPoll",
  [scepMessageTypes.getCert]: "GetCert",
  [scepMessageTypes.getCrl]: "GetCRL",
};

/** RFC 8894 §3.2.1.4 names of the failInfo values. */
const failInfoNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(failInfos).map(([name, value]) => [value, name]),
);

/**
 * Counts one CertRep: by endpoint (only endpoints that exist: an unknown
 * name never becomes a label), message type, pkiStatus and failInfo.
 */
export function countScepMessage(
  metrics: Pick<Metrics, "scepMessages"> | undefined,
  endpoint: string,
  messageType: number,
  answered: AnsweredStatus,
): void {
  metrics?.scepMessages.inc({
    endpoint,
    message_type: messageTypeNames[messageType] ?? "other",
    pki_status: answered.status.toUpperCase(),
    fail_info: answered.status === "failure" ? (failInfoNames[answered.failInfo] ?? String(answered.failInfo)) : "",
  });
}
