import { createHash } from "node:crypto";
import {
  clone,
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  type Message,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { Code, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import type { Clock } from "../core/clock.ts";
import { ChanceryError } from "../core/errors.ts";
import { CertificateService } from "../gen/chancery/admin/v1/certificate_pb.js";
import {
  claimIdempotentRequest,
  completeIdempotentRequest,
  type IdempotencyKey,
  releaseIdempotentRequest,
} from "../store/idempotency-store.ts";
import { connectErrorWithReason } from "./errors.ts";
import { principalKey } from "./principal.ts";

/** How long a request_id is remembered (AIP-155 leaves it to the server; a day covers any retry loop). */
export const idempotencyRetentionMs = 24 * 60 * 60 * 1000;

/**
 * A claim still pending after this long belongs to a call that will never
 * finish (its replica stopped mid-call): far longer than any admin call,
 * which the listener's 2-minute idle timeout bounds.
 */
export const idempotencyAbandonAfterMs = 5 * 60 * 1000;

/**
 * Same rule as IssueCertificate's request_id in the issuance core, so one
 * rule holds across the API: 1-128 printable ASCII characters, no space. A
 * UUID (what AIP-155 recommends) fits.
 */
const requestIdPattern = /^[\x21-\x7e]{1,128}$/;

/**
 * RPCs whose core already implements request_id: IssueCertificate replays
 * from the certificate row itself (kept forever, answered with its current
 * state) and compares only CA and profile, so a retry with a freshly made
 * CSR still finds its certificate. Claiming here as well would change those
 * semantics, so they are left alone here.
 */
const handledByCore = new Set([`${CertificateService.typeName}/${CertificateService.method.issueCertificate.name}`]);

export interface IdempotencyOptions {
  readonly pool: DatabasePool;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retentionMs?: number;
  readonly abandonAfterMs?: number;
}

/**
 * A ConnectRouter that registers every service (and single RPC) with
 * AIP-155 request_id handling wrapped around each unary method whose
 * request message has a top-level `string request_id`. Found in the
 * schema when the service is registered, so a request_id added to a proto
 * later is picked up without code here.
 *
 * Why around the handler rather than a Connect interceptor: connect-es
 * (2.2) sends the response headers an interceptor returns in place of the
 * ones the protocol set up (content-type, compression), and an interceptor
 * that answers without calling next() cannot reach those; a replayed answer
 * would go out without a content-type. Wrapped around the handler, the
 * replay is an ordinary return, and it still runs after authentication (it
 * needs the principal) and inside the error interceptor (its
 * ChanceryErrors are mapped like a handler's).
 */
export function idempotentRouter(router: ConnectRouter, options: IdempotencyOptions): ConnectRouter {
  const wrapped: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, handlerOptions) {
      router.service(service, withIdempotency(service, implementation, options), handlerOptions);
      return wrapped;
    },
    rpc(method, implementation, handlerOptions) {
      const wrappedMethod = takesPart(method)
        ? wrapUnary(method as DescMethodUnary, implementation as UnaryImpl, options)
        : implementation;
      router.rpc(method, wrappedMethod as typeof implementation, handlerOptions);
      return wrapped;
    },
  };
  return wrapped;
}

/** `implementation` with each participating unary method wrapped (the rest reached through the prototype). */
export function withIdempotency<S extends DescService>(
  service: S,
  implementation: Partial<ServiceImpl<S>>,
  options: IdempotencyOptions,
): Partial<ServiceImpl<S>> {
  const wrapped: Record<string, unknown> = Object.create(implementation);
  for (const method of service.methods) {
    const original = (implementation as Record<string, unknown>)[method.localName];
    if (typeof original !== "function" || !takesPart(method)) continue;
    wrapped[method.localName] = wrapUnary(
      method as DescMethodUnary,
      (original as UnaryImpl).bind(implementation),
      options,
    );
  }
  return wrapped as Partial<ServiceImpl<S>>;
}

type UnaryImpl = (request: Message, context: HandlerContext) => Promise<unknown> | unknown;

function takesPart(method: DescMethod): boolean {
  return (
    method.methodKind === "unary" &&
    requestIdField(method.input) !== null &&
    !handledByCore.has(`${method.parent.typeName}/${method.name}`)
  );
}

/**
 * For a non-empty request_id, keyed by (authenticated caller, RPC,
 * request_id):
 * - first call: claimed as pending, the handler runs, its response is stored;
 *   a failed call releases the claim, so a retry runs again;
 * - repeat of a completed call with the same request: the stored response,
 *   without running the handler (so nothing is created twice);
 * - the same request_id with a different request: INVALID_ARGUMENT;
 * - a repeat while the first is still running: ABORTED, retry.
 * A response holding a secret (a field marked `[debug_redact = true]`, e.g.
 * a token secret shown once) is never stored: a repeat of a completed call
 * is then refused with ALREADY_EXISTS instead of answered.
 *
 * A replay skips the handler's role checks: it only returns to the same
 * user what they were already given. See
 * docs/decisions/0005-idempotent-admin-requests.md.
 */
function wrapUnary(method: DescMethodUnary, handler: UnaryImpl, options: IdempotencyOptions): UnaryImpl {
  const retentionMs = options.retentionMs ?? idempotencyRetentionMs;
  const abandonAfterMs = options.abandonAfterMs ?? idempotencyAbandonAfterMs;
  const procedure = `${method.parent.typeName}/${method.name}`;
  const field = requestIdField(method.input)!;
  const output = method.output;
  const keepResponse = !containsSecret(output);
  return async (request, context) => {
    const requestId = (request as unknown as Record<string, unknown>)[field.localName];
    if (typeof requestId !== "string" || requestId === "") return handler(request, context);
    // Without a caller there is no key; every chancery.admin call has one
    // (authentication refused it otherwise) except those that take no token.
    const principal = context.values.get(principalKey);
    if (!principal) return handler(request, context);
    if (!requestIdPattern.test(requestId))
      throw new ChanceryError("invalid_argument", "request_id must be 1-128 printable ASCII characters");

    const key: IdempotencyKey = { userId: principal.userId, method: procedure, requestId };
    const requestHash = canonicalHash(method.input, request);
    const now = options.clock.now();
    const claim = await claimIdempotentRequest(
      options.pool,
      key,
      requestHash,
      now,
      new Date(now.getTime() - retentionMs),
    );
    if (claim.state !== "claimed") {
      if (!claim.requestHash.equals(requestHash))
        throw new ChanceryError("invalid_argument", "request_id was already used for a different request");
      if (claim.state === "pending") {
        if (now.getTime() - claim.createdAt.getTime() > abandonAfterMs)
          throw connectErrorWithReason(
            "an earlier request with this request_id stopped before it finished; check whether it took effect, " +
              "then retry with a new request_id",
            Code.FailedPrecondition,
            "REQUEST_OUTCOME_UNKNOWN",
          );
        throw connectErrorWithReason(
          "a request with this request_id is in progress, retry",
          Code.Aborted,
          "REQUEST_IN_PROGRESS",
        );
      }
      if (claim.response === null)
        throw connectErrorWithReason(
          "the request with this request_id has completed; its response held a secret, which is shown only once",
          Code.AlreadyExists,
          "REQUEST_ALREADY_COMPLETED",
        );
      return fromBinary(output, claim.response);
    }

    let response: Message;
    try {
      response = create(output, (await handler(request, context)) as MessageInitShape<typeof output>);
    } catch (err) {
      // Handlers are atomic (one core call), so a failure created nothing.
      await releaseIdempotentRequest(options.pool, key).catch((releaseErr: unknown) =>
        options.logger.error({ err: releaseErr, procedure }, "could not release a request_id claim"),
      );
      throw err;
    }
    // The call succeeded: its caller gets the answer even if recording it
    // fails. The claim then stays pending, and a repeat is refused (ABORTED,
    // then REQUEST_OUTCOME_UNKNOWN) rather than run twice.
    const stored = keepResponse ? Buffer.from(toBinary(output, response)) : null;
    await completeIdempotentRequest(options.pool, key, stored, options.clock.now()).catch((err: unknown) =>
      options.logger.error({ err, procedure }, "could not record a request_id response"),
    );
    return response;
  };
}

const requestIdFields = new WeakMap<DescMessage, DescField | null>();

/** The message's top-level `string request_id` (not in a oneof, not repeated), or null. */
export function requestIdField(schema: DescMessage): DescField | null {
  let field = requestIdFields.get(schema);
  if (field === undefined) {
    const candidate = schema.fields.find((f) => f.name === "request_id");
    field =
      candidate?.fieldKind === "scalar" && candidate.scalar === ScalarType.STRING && !candidate.oneof
        ? candidate
        : null;
    requestIdFields.set(schema, field);
  }
  return field;
}

const secretOutputs = new WeakMap<DescMessage, boolean>();

/** True when the message, or any message inside it, has a field marked `[debug_redact = true]`. */
export function containsSecret(schema: DescMessage): boolean {
  let found = secretOutputs.get(schema);
  if (found === undefined) {
    found = markedRedacted(schema, new Set());
    secretOutputs.set(schema, found);
  }
  return found;
}

function markedRedacted(schema: DescMessage, seen: Set<DescMessage>): boolean {
  if (seen.has(schema)) return false;
  seen.add(schema);
  return schema.fields.some(
    (f) => f.proto.options?.debugRedact === true || (f.message && markedRedacted(f.message, seen)),
  );
}

/**
 * SHA-256 of the request in canonical protobuf binary: fields in number
 * order (what protobuf-es writes), map entries sorted by key (protobuf-es
 * writes them in insertion order, which JSON input controls), unknown
 * fields left out (the handler ignores them too). The same request sent as
 * Connect JSON, Connect binary or gRPC hashes the same.
 */
export function canonicalHash<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Buffer {
  const copy = clone(schema, message);
  sortMaps(reflect(schema, copy));
  return createHash("sha256")
    .update(toBinary(schema, copy, { writeUnknownFields: false }))
    .digest();
}

function sortMaps(message: ReflectMessage): void {
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    if (field.fieldKind === "message") sortMaps(message.get(field));
    else if (field.fieldKind === "list" && field.listKind === "message")
      for (const item of message.get(field)) sortMaps(item as ReflectMessage);
    else if (field.fieldKind === "map") {
      const map = message.get(field);
      const entries = [...map.entries()].sort(([a], [b]) => compareKeys(a, b));
      map.clear();
      for (const [k, v] of entries) {
        if (field.mapKind === "message") sortMaps(v as ReflectMessage);
        map.set(k, v);
      }
    }
  }
}

function compareKeys(a: unknown, b: unknown): number {
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
