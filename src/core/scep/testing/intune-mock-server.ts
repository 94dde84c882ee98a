import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { parseCsr } from "../../x509/parse-csr.ts";
import type { IntuneSettings } from "../scep-types.ts";
import { intuneAppId, scepValidationServiceName } from "../validation/intune-service-discovery.ts";

/**
 * Test-only: a local stand-in for the three Microsoft services a
 * third-party SCEP CA talks to for Intune validation, behaving as
 * Microsoft documents them and as the Intune-Resource-Access library
 * expects:
 *
 * - Entra ID `POST /{tenant}/oauth2/v2.0/token` (client credentials, form
 *   encoded): checks tenant, client id, secret and scope; answers
 *   {token_type, expires_in, access_token} or an RFC 6749 §5.2 error with
 *   the AADSTS code Entra ID uses (401 invalid_client for a wrong secret).
 * - Microsoft Graph `GET /v1.0/servicePrincipals/appId={Intune app id}/endpoints`:
 *   needs a Graph token; lists ScepRequestValidationFEService (and
 *   PkiConnectorFEService) with URLs on this server.
 * - ScepRequestValidationFEService `POST .../ScepActions/{validateRequest,
 *   successNotification, failureNotification}`: needs an Intune-resource
 *   token and `api-version: 2018-02-20`; validateRequest reads the CSR's
 *   challengePassword and answers {"code": "Success"} for one it was told
 *   to accept, the code it was told for others (e.g. ChallengeExpired),
 *   ChallengePasswordMissing, CertificateRequestDecodingFailed or
 *   ChallengeDeserializationError (not an Intune challenge) otherwise.
 *
 * Knobs inject faults (503s, 429 with Retry-After, slow answers) and move
 * the service; every call is recorded for assertions. Listens on
 * 127.0.0.1, port 0.
 */
export type IntuneMockCallKind =
  | "token"
  | "discovery"
  | "validateRequest"
  | "successNotification"
  | "failureNotification"
  | "other";

/** Which calls a fault applies to. */
export type IntuneMockTarget = "token" | "discovery" | "scepActions" | "any";

export interface IntuneMockCall {
  readonly kind: IntuneMockCallKind;
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** Token requests: the form fields. */
  readonly form: Readonly<Record<string, string>> | null;
  /** JSON requests: the parsed body. */
  readonly json: unknown;
  /** The status the mock answered (0 when the client gave up before the answer). */
  status: number;
}

export interface IntuneMockOptions {
  readonly tenant?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** expires_in of issued tokens; default 3599 as Entra ID. */
  readonly tokenLifetimeSeconds?: number;
}

export interface IntuneMockServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly tenant: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The Intune resource id tokens must be asked for (only an audience: never contacted). */
  readonly intuneResourceUrl: string;
  /** Settings pointing the validator at this mock for Entra ID and Graph. */
  settings(overrides?: Partial<IntuneSettings>): IntuneSettings;
  /** validateRequest answers Success for CSRs carrying this challenge. */
  acceptChallenge(challenge: string): void;
  /** validateRequest answers `code` (e.g. "ChallengeExpired") for CSRs carrying this challenge. */
  answerChallenge(challenge: string, code: string, errorDescription?: string): void;
  /** The next `count` calls to `target` (default scepActions) answer `status` (default 503), with Retry-After if given. */
  failNext(
    count: number,
    options?: { target?: IntuneMockTarget; status?: number; retryAfterSeconds?: number; body?: string },
  ): void;
  /** The next `count` calls to `target` wait `ms` before being handled (timeouts). */
  delayNext(count: number, ms: number, target?: IntuneMockTarget): void;
  /** The service moves: discovery lists a new URL and the old one answers 404. */
  moveScepService(): void;
  /** Whether discovery lists ScepRequestValidationFEService at all (a tenant without the Intune permission). */
  publishScepService(published: boolean): void;
  readonly calls: readonly IntuneMockCall[];
  callsOf(kind: IntuneMockCallKind): IntuneMockCall[];
  close(): Promise<void>;
}

interface Fault {
  readonly target: IntuneMockTarget;
  readonly status?: number | undefined;
  readonly retryAfterSeconds?: number | undefined;
  readonly body?: string | undefined;
  readonly delayMs?: number | undefined;
}

const scepApiVersion = "2018-02-20";
const defaultIntuneResource = "https://api.manage.microsoft.com/";

export async function startIntuneMockServer(options: IntuneMockOptions = {}): Promise<IntuneMockServer> {
  const tenant = options.tenant ?? "contoso.onmicrosoft.com";
  const clientId = options.clientId ?? randomUUID();
  const clientSecret = options.clientSecret ?? randomBytes(24).toString("base64url");
  const tokenLifetime = options.tokenLifetimeSeconds ?? 3599;
  const calls: IntuneMockCall[] = [];
  const faults: Fault[] = [];
  const challenges = new Map<string, { code: string; description: string }>();
  /** access token -> the resource it was issued for */
  const tokens = new Map<string, "graph" | "intune">();
  let generation = 1;
  let published = true;
  let url = "";

  const graphScope = () => `${url}/.default`;
  const intuneScope = `${defaultIntuneResource}/.default`;
  const servicePath = (g: number) => `/ScepRequestValidationFEService/g${g}`;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void handle(req, res, Buffer.concat(chunks).toString("utf8"));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const path = req.url ?? "/";
    const kind = classify(path);
    const contentType = String(req.headers["content-type"] ?? "");
    const call: IntuneMockCall = {
      kind,
      method: req.method ?? "",
      path,
      headers: req.headers,
      body,
      form: contentType.startsWith("application/x-www-form-urlencoded")
        ? Object.fromEntries(new URLSearchParams(body))
        : null,
      json: contentType.startsWith("application/json") ? safeJson(body) : undefined,
      status: 0,
    };
    calls.push(call);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      // The client gave up (timeout) while a delay fault held the call: nothing to answer.
      if (res.destroyed || req.socket.destroyed) return;
      call.status = status;
      const text = typeof payload === "string" ? payload : JSON.stringify(payload);
      res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers }).end(text);
    };

    const fault = takeFault(kind);
    if (fault?.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.status !== undefined) {
      const headers: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { "Retry-After": String(fault.retryAfterSeconds) };
      send(fault.status, fault.body ?? { error: { code: "ServiceUnavailable", message: "injected fault" } }, headers);
      return;
    }

    switch (kind) {
      case "token":
        return token(req, call, send);
      case "discovery":
        return discovery(req, send);
      case "validateRequest":
      case "successNotification":
      case "failureNotification":
        return scepAction(kind, req, call, send);
      default:
        send(404, { error: { code: "NotFound", message: `no route for ${req.method} ${path}` } });
    }
  }

  function classify(path: string): IntuneMockCallKind {
    if (/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path)) return "token";
    if (/^\/v1\.0\/servicePrincipals\/appId=[^/]+\/endpoints$/.test(path)) return "discovery";
    const action = /^\/ScepRequestValidationFEService\/g\d+\/ScepActions\/(\w+)$/.exec(path)?.[1];
    if (action === "validateRequest" || action === "successNotification" || action === "failureNotification") {
      return action;
    }
    return "other";
  }

  function takeFault(kind: IntuneMockCallKind): Fault | undefined {
    const target: IntuneMockTarget =
      kind === "token" ? "token" : kind === "discovery" ? "discovery" : kind === "other" ? "any" : "scepActions";
    const index = faults.findIndex((f) => f.target === "any" || f.target === target);
    if (index < 0) return undefined;
    return faults.splice(index, 1)[0];
  }

  type Send = (status: number, payload: unknown, headers?: Record<string, string>) => void;

  /** Entra ID v2.0 token endpoint, client credentials grant with a shared secret. */
  function token(req: http.IncomingMessage, call: IntuneMockCall, send: Send) {
    const form = call.form;
    const pathTenant = decodeURIComponent(call.path.split("/")[1] ?? "");
    const error = (status: number, code: string, description: string) =>
      send(status, {
        error: code,
        error_description: description,
        error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)],
        timestamp: new Date().toISOString(),
        trace_id: randomUUID(),
        correlation_id: randomUUID(),
      });
    if (req.method !== "POST" || form === null) {
      return error(
        400,
        "invalid_request",
        "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
      );
    }
    if (pathTenant !== tenant) {
      return error(400, "invalid_tenant", `AADSTS90002: Tenant '${pathTenant}' not found.`);
    }
    if (form["grant_type"] !== "client_credentials") {
      return error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    }
    if (form["client_id"] !== clientId) {
      return error(
        400,
        "unauthorized_client",
        `AADSTS700016: Application with identifier '${form["client_id"] ?? ""}' was not found in the directory '${tenant}'.`,
      );
    }
    if (form["client_secret"] !== clientSecret) {
      return error(
        401,
        "invalid_client",
        `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    const scope = form["scope"] ?? "";
    if (!scope.endsWith("/.default")) {
      return error(
        400,
        "invalid_scope",
        `AADSTS1002012: The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const audience = scope === graphScope() ? "graph" : scope === intuneScope ? "intune" : null;
    if (audience === null) {
      return error(
        400,
        "invalid_resource",
        `AADSTS500011: The resource principal named ${scope.slice(0, -"/.default".length)} was not found in the tenant named ${tenant}.`,
      );
    }
    const accessToken = randomBytes(32).toString("base64url");
    tokens.set(accessToken, audience);
    send(200, {
      token_type: "Bearer",
      expires_in: tokenLifetime,
      ext_expires_in: tokenLifetime,
      access_token: accessToken,
    });
  }

  function bearer(req: http.IncomingMessage): "graph" | "intune" | undefined {
    const match = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ""));
    return match ? tokens.get(match[1]!) : undefined;
  }

  /** Microsoft Graph v1.0 servicePrincipal endpoints of the Intune app. */
  function discovery(req: http.IncomingMessage, send: Send) {
    if (req.method !== "GET") return send(405, { error: { code: "Request_BadRequest", message: "GET only" } });
    if (bearer(req) !== "graph") {
      return send(401, {
        error: { code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid audience." },
      });
    }
    const appId = /appId=([^/]+)/.exec(req.url ?? "")?.[1];
    if (appId !== intuneAppId) {
      return send(404, {
        error: { code: "Request_ResourceNotFound", message: `Resource '${appId}' does not exist.` },
      });
    }
    const endpoint = (providerName: string, uri: string) => ({
      id: randomUUID(),
      deletedDateTime: null,
      capability: providerName,
      providerId: null,
      providerName,
      providerResourceId: null,
      uri,
    });
    send(200, {
      "@odata.context": `${url}/v1.0/$metadata#servicePrincipals('${intuneAppId}')/endpoints`,
      value: [
        endpoint("PkiConnectorFEService", `${url}/PkiConnectorFEService/g1`),
        ...(published ? [endpoint(scepValidationServiceName, `${url}${servicePath(generation)}`)] : []),
      ],
    });
  }

  function scepAction(kind: IntuneMockCallKind, req: http.IncomingMessage, call: IntuneMockCall, send: Send) {
    if (!call.path.startsWith(`${servicePath(generation)}/`)) {
      return send(404, { error: { code: "NotFound", message: "no such service instance" } });
    }
    if (req.method !== "POST") return send(405, { error: { code: "BadRequest", message: "POST only" } });
    if (bearer(req) !== "intune") {
      return send(401, {
        error: { code: "Unauthorized", message: "token missing, unknown or not for the Intune resource" },
      });
    }
    if (req.headers["api-version"] !== scepApiVersion) {
      return send(400, {
        error: { code: "BadRequest", message: `unsupported api-version ${req.headers["api-version"]}` },
      });
    }
    if (typeof req.headers["client-request-id"] !== "string" || req.headers["client-request-id"] === "") {
      return send(400, { error: { code: "BadRequest", message: "client-request-id missing" } });
    }
    const json = call.json as Record<string, unknown> | undefined;
    const badRequest = (message: string) => send(400, { error: { code: "BadRequest", message } });
    if (kind === "validateRequest") {
      const request = record(json?.["request"]);
      const missing = missingStrings(request, ["transactionId", "certificateRequest", "callerInfo"]);
      if (missing) return badRequest(`request.${missing} missing`);
      return send(200, validate(String(request!["certificateRequest"])));
    }
    const notification = record(json?.["notification"]);
    const required =
      kind === "successNotification"
        ? [
            "transactionId",
            "certificateRequest",
            "certificateThumbprint",
            "certificateSerialNumber",
            "certificateExpirationDateUtc",
            "issuingCertificateAuthority",
            "callerInfo",
          ]
        : ["transactionId", "certificateRequest", "errorDescription", "callerInfo"];
    const missing = missingStrings(notification, required);
    if (missing) return badRequest(`notification.${missing} missing`);
    if (kind === "failureNotification" && typeof notification!["hResult"] !== "number") {
      return badRequest("notification.hResult missing");
    }
    send(200, { code: "Success", errorDescription: "" });
  }

  function validate(certificateRequest: string): { code: string; errorDescription: string } {
    let challenge: string | undefined;
    try {
      challenge = parseCsr(Buffer.from(certificateRequest, "base64")).challengePassword;
    } catch {
      return {
        code: "CertificateRequestDecodingFailed",
        errorDescription: "the certificate request could not be decoded",
      };
    }
    if (challenge === undefined) return { code: "ChallengePasswordMissing", errorDescription: "" };
    const known = challenges.get(challenge);
    if (known) return { code: known.code, errorDescription: known.description };
    return { code: "ChallengeDeserializationError", errorDescription: "challenge could not be deserialized" };
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    tenant,
    clientId,
    clientSecret,
    intuneResourceUrl: defaultIntuneResource,
    settings(overrides) {
      return {
        tenant,
        clientId,
        providerNameAndVersion: "Chancery/test",
        authorityUrl: url,
        graphUrl: url,
        intuneResourceUrl: defaultIntuneResource,
        ...overrides,
      };
    },
    acceptChallenge(challenge) {
      challenges.set(challenge, { code: "Success", description: "" });
    },
    answerChallenge(challenge, code, errorDescription = "") {
      challenges.set(challenge, { code, description: errorDescription });
    },
    failNext(count, faultOptions = {}) {
      for (let i = 0; i < count; i++) {
        faults.push({
          target: faultOptions.target ?? "scepActions",
          status: faultOptions.status ?? 503,
          retryAfterSeconds: faultOptions.retryAfterSeconds,
          body: faultOptions.body,
        });
      }
    },
    delayNext(count, ms, target = "scepActions") {
      for (let i = 0; i < count; i++) faults.push({ target, delayMs: ms });
    },
    moveScepService() {
      generation += 1;
    },
    publishScepService(value) {
      published = value;
    },
    calls,
    callsOf(kind) {
      return calls.filter((c) => c.kind === kind);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The first of `keys` that is not a non-empty string in `value`, or undefined. */
function missingStrings(value: Record<string, unknown> | undefined, keys: readonly string[]): string | undefined {
  if (!value) return keys[0];
  return keys.find((key) => typeof value[key] !== "string" || value[key] === "");
}
