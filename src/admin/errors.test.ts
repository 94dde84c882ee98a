import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChanceryError, errorCodes } from "../core/errors.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { errorDomain, errorReason, toConnectError } from "./errors.ts";

function errorInfo(err: ChanceryError) {
  const detail = toConnectError(err).details[0];
  if (!detail || !("desc" in detail) || detail.desc !== ErrorInfoSchema) throw new Error("no ErrorInfo detail");
  return detail.value;
}

describe("admin error mapping", () => {
  it("gives every core code an UPPER_SNAKE_CASE reason in the chancery.dev domain", () => {
    expect(errorCodes.map(errorReason)).toEqual([
      "INVALID_ARGUMENT",
      "BAD_CSR",
      "POLICY_VIOLATION",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "FAILED_PRECONDITION",
      "UNAUTHENTICATED",
      "PERMISSION_DENIED",
      "UNAVAILABLE",
      "INTERNAL",
    ]);
    for (const code of errorCodes)
      expect(errorInfo(new ChanceryError(code, "m"))).toEqual({
        reason: errorReason(code),
        domain: errorDomain,
        metadata: {},
      });
  });

  it("keeps the safe message and maps the code", () => {
    const err = toConnectError(new ChanceryError("bad_csr", "csr_pem: not PEM"));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("csr_pem: not PEM");
  });

  it("passes only allow-listed detail to the client", () => {
    const violation = new ChanceryError("policy_violation", "nameConstraints: x is excluded", {
      detail: { rule: "nameConstraints", kind: "excluded", name: "x", internal: "do not show" },
    });
    expect(errorInfo(violation).metadata).toEqual({ rule: "nameConstraints" });
    // Why a token failed stays in the log: "unknown token" would help a guesser.
    const denied = new ChanceryError("unauthenticated", "invalid or missing token", {
      detail: { reason: "unknown_token" },
    });
    expect(errorInfo(denied).metadata).toEqual({});
    // A non-string value is left out rather than stringified.
    expect(
      errorInfo(new ChanceryError("policy_violation", "m", { detail: { rule: { nested: true } } })).metadata,
    ).toEqual({});
  });
});
