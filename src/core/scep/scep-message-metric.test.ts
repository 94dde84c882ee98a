import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { countScepMessage } from "./scep-message-metric.ts";
import { failInfos, scepMessageTypes } from "./scep-types.ts";

describe("countScepMessage", () => {
  it("labels by RFC 8894 names: message type, pkiStatus, failInfo (empty unless FAILURE)", async () => {
    const scepMessages = new Counter({
      name: "scep_messages_test",
      help: "test",
      labelNames: ["endpoint", "message_type", "pki_status", "fail_info"] as const,
      registers: [new Registry()],
    });
    countScepMessage({ scepMessages }, "mdm", scepMessageTypes.pkcsReq, { status: "success" });
    countScepMessage({ scepMessages }, "mdm", scepMessageTypes.renewalReq, { status: "pending" });
    countScepMessage({ scepMessages }, "mdm", scepMessageTypes.certPoll, {
      status: "failure",
      failInfo: failInfos.badCertId,
    });
    countScepMessage({ scepMessages }, "mdm", scepMessageTypes.getCrl, {
      status: "failure",
      failInfo: failInfos.badMessageCheck,
    });
    countScepMessage({ scepMessages }, "mdm", 99, { status: "failure", failInfo: failInfos.badRequest });
    countScepMessage(undefined, "mdm", scepMessageTypes.getCert, { status: "success" });

    const labels = (await scepMessages.get()).values.map((v) => v.labels);
    expect(labels).toEqual([
      { endpoint: "mdm", message_type: "PKCSReq", pki_status: "SUCCESS", fail_info: "" },
      { endpoint: "mdm", message_type: "RenewalReq", pki_status: "PENDING", fail_info: "" },
      { endpoint: "mdm", message_type: "CertPoll", pki_status: "FAILURE", fail_info: "badCertId" },
      { endpoint: "mdm", message_type: "GetCRL", pki_status: "FAILURE", fail_info: "badMessageCheck" },
      { endpoint: "mdm", message_type: "other", pki_status: "FAILURE", fail_info: "badRequest" },
    ]);
  });
});
