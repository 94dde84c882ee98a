import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import { ChanceryError, type ErrorCode } from "../../src/core/errors.ts";
import { acmeErrorResponse } from "./errors.ts";

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const ns = "urn:ietf:params:acme:error:";

describe("acmeErrorResponse", () => {
  it("writes an AcmeProblem as it is, with its Retry-After and algorithms", () => {
    const { logger, lines } = capturingLogger();
    const limited = acmeErrorResponse(
      new AcmeProblem("rateLimited", "too many new orders", { retryAfterSeconds: 120 }),
      logger,
    );
    expect(limited).toEqual({
      status: 429,
      body: { type: `${ns}rateLimited`, detail: "too many new orders", status: 429 },
      retryAfterSeconds: 120,
    });
    const alg = acmeErrorResponse(new AcmeProblem("badSignatureAlgorithm", "no", { algorithms: ["ES256"] }), logger);
    expect(alg.body).toMatchObject({ type: `${ns}badSignatureAlgorithm`, algorithms: ["ES256"] });
    expect(alg).not.toHaveProperty("retryAfterSeconds");
    const sub = acmeErrorResponse(
      new AcmeProblem("compound", "two problems", {
        subproblems: [
          { type: `${ns}rejectedIdentifier`, detail: "x", identifier: { type: "dns", value: "a.example" } },
        ],
      }),
      logger,
    );
    expect(sub.body.subproblems).toHaveLength(1);
    expect(lines).toHaveLength(0);
  });

  it.each<[ErrorCode, string, number, Record<string, unknown>?]>([
    ["invalid_argument", "malformed", 400],
    ["bad_csr", "badCSR", 400],
    ["policy_violation", "rejectedIdentifier", 400, { rule: "san.patterns.dns" }],
    ["policy_violation", "rejectedIdentifier", 400],
    ["policy_violation", "badCSR", 400, { rule: "keyAlgorithms.rsa" }],
    ["policy_violation", "badCSR", 400, { rule: "subject.required" }],
    ["not_found", "malformed", 404],
    ["already_exists", "malformed", 409],
    ["failed_precondition", "malformed", 403],
    ["unauthenticated", "unauthorized", 401],
    ["permission_denied", "unauthorized", 403],
  ])("maps %s to %s %i with the error's message", (code, type, status, detail) => {
    const { logger, lines } = capturingLogger();
    const response = acmeErrorResponse(new ChanceryError(code, `a ${code} message`, { detail }), logger);
    expect(response).toEqual({ status, body: { type: ns + type, detail: `a ${code} message`, status } });
    expect(lines).toHaveLength(0);
  });

  it("maps unavailable to serverInternal 503 with Retry-After, logged", () => {
    const { logger, lines } = capturingLogger();
    const response = acmeErrorResponse(
      new ChanceryError("unavailable", "cannot check the nonce right now; retry later", {
        cause: new Error("ECONNREFUSED 10.0.0.5:5432"),
      }),
      logger,
    );
    expect(response.status).toBe(503);
    expect(response.body.type).toBe(`${ns}serverInternal`);
    expect(response.retryAfterSeconds).toBeGreaterThan(0);
    expect(JSON.stringify(response)).not.toContain("10.0.0.5");
    expect(lines).toHaveLength(1);
  });

  it("answers internal errors and anything unknown with a generic serverInternal 500, and logs them", () => {
    const { logger, lines } = capturingLogger();
    const internal = acmeErrorResponse(
      new ChanceryError("internal", "sealed key for CA 42 failed to open", { detail: { caId: "42" } }),
      logger,
    );
    const thrown = acmeErrorResponse(new TypeError("Cannot read properties of undefined (reading 'der')"), logger);
    const odd = acmeErrorResponse("a string", logger);
    for (const response of [internal, thrown, odd]) {
      expect(response.status).toBe(500);
      expect(response.body.type).toBe(`${ns}serverInternal`);
      expect(response.body.detail).not.toMatch(/CA 42|der|string/);
    }
    expect(lines).toHaveLength(3);
    expect(JSON.stringify(lines[0])).toContain("sealed key for CA 42");
  });

  it("keeps an exposed 4xx framework error (body too large) a client error", () => {
    const { logger, lines } = capturingLogger();
    const tooLarge = Object.assign(new Error("request entity too large"), { status: 413, expose: true });
    expect(acmeErrorResponse(tooLarge, logger)).toEqual({
      status: 413,
      body: { type: `${ns}malformed`, detail: "request entity too large", status: 413 },
    });
    // Not exposed: a 500 with a generic detail.
    const hidden = Object.assign(new Error("secret"), { status: 400 });
    expect(acmeErrorResponse(hidden, logger).status).toBe(500);
    expect(lines).toHaveLength(1);
  });
});
