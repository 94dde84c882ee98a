import { readdirSync } from "node:fs";
import { create, createFileRegistry, type DescMessage, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { sql } from "slonik";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { ChanceryError } from "../core/errors.ts";
import { CertificateAuthorityService } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import { CertificateService } from "../gen/chancery/admin/v1/certificate_pb.js";
import { UserService } from "../gen/chancery/admin/v1/user_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { claimIdempotentRequest } from "../store/idempotency-store.ts";
import { createErrorInterceptor, errorDomain } from "./errors.ts";
import { canonicalHash, containsSecret, idempotentRouter, requestIdField } from "./idempotency.ts";
import { principalKey } from "./principal.ts";

const silent = { error() {} } as never;

/**
 * test.idem.Things, built at run time: a request with request_id and a map
 * (to check the canonical hash), a plain answer, and one holding a secret.
 */
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "test/idem.proto",
    package: "test.idem",
    syntax: "proto3",
    messageType: [
      {
        name: "MakeRequest",
        field: [
          { name: "title", number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: "title" },
          {
            name: "labels",
            number: 2,
            type: Type.MESSAGE,
            label: Label.REPEATED,
            typeName: ".test.idem.MakeRequest.LabelsEntry",
            jsonName: "labels",
          },
          { name: "request_id", number: 3, type: Type.STRING, label: Label.OPTIONAL, jsonName: "requestId" },
        ],
        nestedType: [
          {
            name: "LabelsEntry",
            field: [
              { name: "key", number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: "key" },
              { name: "value", number: 2, type: Type.STRING, label: Label.OPTIONAL, jsonName: "value" },
            ],
            options: { mapEntry: true },
          },
        ],
      },
      {
        name: "Made",
        field: [{ name: "id", number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: "id" }],
      },
      {
        name: "MadeWithSecret",
        field: [{ name: "made", number: 1, type: Type.MESSAGE, label: Label.OPTIONAL, typeName: ".test.idem.Sealed" }],
      },
      {
        name: "Sealed",
        field: [
          {
            name: "secret",
            number: 1,
            type: Type.STRING,
            label: Label.OPTIONAL,
            jsonName: "secret",
            options: { debugRedact: true },
          },
        ],
      },
    ],
    service: [
      {
        name: "Things",
        method: [
          { name: "Make", inputType: ".test.idem.MakeRequest", outputType: ".test.idem.Made" },
          { name: "MakeSecret", inputType: ".test.idem.MakeRequest", outputType: ".test.idem.MadeWithSecret" },
        ],
      },
    ],
  }),
  () => undefined,
);
const Things = registry.getService("test.idem.Things")!;
const MakeRequest = registry.getMessage("test.idem.MakeRequest")!;

type Shape = Record<string, unknown>;
type ThingsClient = Record<
  "make" | "makeSecret",
  (request: Shape, options?: { headers?: Record<string, string> }) => Promise<Shape>
>;

/** Stands in for the authentication interceptor: the caller's user id comes from a test header. */
const fakeAuthentication: Interceptor = (next) => async (request) => {
  const userId = request.header.get("x-test-user");
  if (userId) request.contextValues.set(principalKey, { userId, username: "u", role: "admin", assignedCaIds: [] });
  return next(request);
};

function reasonOf(err: unknown): string | undefined {
  return err instanceof ConnectError ? err.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
}

describe("request_id idempotency around admin handlers", () => {
  let db: TestDatabase;
  let now: Date;
  let calls: number;
  let made: number;
  let gate: Promise<void> | undefined;
  let failNext: boolean;

  const alice = "00000000-0000-4000-8000-00000000a11c";
  const bob = "00000000-0000-4000-8000-000000000b0b";

  function client(): ThingsClient {
    const transport = createRouterTransport(
      (router) =>
        idempotentRouter(router, options()).service(Things, {
          async make(request: Shape) {
            calls++;
            if (gate) await gate;
            if (failNext) {
              failNext = false;
              throw new ChanceryError("already_exists", "that title is taken");
            }
            made++;
            return { id: `thing-${made}-${String(request["title"])}` };
          },
          async makeSecret() {
            calls++;
            return { made: { secret: `s3cret-${++made}` } };
          },
        } as never),
      {
        router: {
          interceptors: [createErrorInterceptor(silent), fakeAuthentication],
        },
      },
    );
    return createClient(Things, transport) as unknown as ThingsClient;
  }
  const options = () => ({ pool: db.pool, clock: { now: () => now }, logger: silent });
  const as = (userId: string) => ({ headers: { "x-test-user": userId } });

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());
  beforeEach(() => {
    now = new Date("2030-01-01T00:00:00Z");
    calls = 0;
    made = 0;
    gate = undefined;
    failNext = false;
  });

  it("answers a repeat with the stored response without running the handler again", async () => {
    const things = client();
    const first = await things.make({ title: "a", requestId: "r-replay" }, as(alice));
    const second = await things.make({ title: "a", requestId: "r-replay" }, as(alice));
    expect(second["id"]).toBe(first["id"]);
    expect(calls).toBe(1);
    // Another caller's request_id is another request.
    const bobs = await things.make({ title: "a", requestId: "r-replay" }, as(bob));
    expect(bobs["id"]).not.toBe(first["id"]);
    expect(calls).toBe(2);
  });

  it("refuses the same request_id with a different request, whatever the map order", async () => {
    const things = client();
    await things.make({ title: "a", labels: { x: "1", y: "2" }, requestId: "r-differs" }, as(alice));
    // The same map in another order is the same request.
    await things.make({ title: "a", labels: { y: "2", x: "1" }, requestId: "r-differs" }, as(alice));
    expect(calls).toBe(1);
    const refused = await things
      .make({ title: "b", labels: { x: "1", y: "2" }, requestId: "r-differs" }, as(alice))
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "request_id was already used for a different request",
    });
    expect(reasonOf(refused)).toBe("INVALID_ARGUMENT");
    expect(calls).toBe(1);
  });

  it("runs the handler once for concurrent duplicates: the others are ABORTED while it runs", async () => {
    const things = client();
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const first = things.make({ title: "c", requestId: "r-concurrent" }, as(alice));
    // Wait until the first call holds the claim (its handler is running).
    while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const duplicates = await Promise.all(
      [1, 2, 3].map(() => things.make({ title: "c", requestId: "r-concurrent" }, as(alice)).catch((e: unknown) => e)),
    );
    for (const err of duplicates) {
      expect(err).toMatchObject({ code: Code.Aborted });
      expect(reasonOf(err)).toBe("REQUEST_IN_PROGRESS");
    }
    open();
    const answer = await first;
    expect(await things.make({ title: "c", requestId: "r-concurrent" }, as(alice))).toEqual(answer);
    expect(calls).toBe(1);
  });

  it("releases the claim of a failed call, so a retry runs again", async () => {
    const things = client();
    failNext = true;
    await expect(things.make({ title: "d", requestId: "r-fails" }, as(alice))).rejects.toMatchObject({
      code: Code.AlreadyExists,
    });
    const retried = await things.make({ title: "d", requestId: "r-fails" }, as(alice));
    expect(retried["id"]).toBe("thing-1-d");
    expect(calls).toBe(2);
  });

  it("ignores an empty request_id and refuses a malformed one", async () => {
    const things = client();
    await things.make({ title: "e" }, as(alice));
    await things.make({ title: "e" }, as(alice));
    expect(calls).toBe(2);
    for (const bad of ["has space", "x".repeat(129), "é"]) {
      const err = await things.make({ title: "e", requestId: bad }, as(alice)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: Code.InvalidArgument });
    }
    expect(calls).toBe(2);
    await things.make({ title: "e", requestId: "x".repeat(128) }, as(alice));
    expect(calls).toBe(3);
  });

  it("never stores a response holding a secret: a completed repeat is ALREADY_EXISTS", async () => {
    const things = client();
    const first = await things.makeSecret({ title: "f", requestId: "r-secret" }, as(alice));
    expect(first["made"]).toMatchObject({ secret: "s3cret-1" });
    const repeat = await things.makeSecret({ title: "f", requestId: "r-secret" }, as(alice)).catch((e: unknown) => e);
    expect(repeat).toMatchObject({ code: Code.AlreadyExists });
    expect(reasonOf(repeat)).toBe("REQUEST_ALREADY_COMPLETED");
    expect(calls).toBe(1);
    const stored = await db.pool.oneFirst(sql.unsafe`
      SELECT response IS NULL AND completed_at IS NOT NULL FROM idempotent_requests WHERE request_id = 'r-secret'`);
    expect(stored).toBe(true);
  });

  it("forgets a request_id after 24 hours (pruned on the next claim)", async () => {
    const things = client();
    await things.make({ title: "g", requestId: "r-expires" }, as(alice));
    now = new Date(now.getTime() + 23 * 3600_000);
    await things.make({ title: "g", requestId: "r-expires" }, as(alice));
    expect(calls).toBe(1);
    now = new Date(now.getTime() + 2 * 3600_000);
    await things.make({ title: "g", requestId: "r-expires" }, as(alice));
    expect(calls).toBe(2);
  });

  it("reports a claim whose call never finished (its replica stopped) as of unknown outcome", async () => {
    const things = client();
    const request = create(MakeRequest, { title: "h", requestId: "r-abandoned" });
    const key = { userId: alice, method: "test.idem.Things/Make", requestId: "r-abandoned" };
    const claimedAt = new Date(now.getTime() - 6 * 60_000);
    expect(
      await claimIdempotentRequest(db.pool, key, canonicalHash(MakeRequest, request), claimedAt, new Date(0)),
    ).toEqual({ state: "claimed" });
    const err = await things.make({ title: "h", requestId: "r-abandoned" }, as(alice)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Code.FailedPrecondition });
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).findDetails(ErrorInfoSchema)[0]).toMatchObject({
      reason: "REQUEST_OUTCOME_UNKNOWN",
      domain: errorDomain,
    });
    expect(calls).toBe(0);
  });

  it("has the table refuse a malformed request_id even if one got past the check above", async () => {
    const key = { userId: alice, method: "test.idem.Things/Make", requestId: "with space" };
    await expect(claimIdempotentRequest(db.pool, key, Buffer.alloc(32), now, new Date(0))).rejects.toThrow(
      /check integrity constraint/,
    );
  });

  it("leaves IssueCertificate to the issuance core, which owns its request_id", async () => {
    const certificates = createClient(
      CertificateService,
      createRouterTransport(
        (router) =>
          idempotentRouter(router, options()).service(CertificateService, {
            async issueCertificate() {
              calls++;
              return { name: `certificates/${calls}` };
            },
          }),
        {
          router: { interceptors: [fakeAuthentication] },
        },
      ),
    );
    await certificates.issueCertificate({ requestId: "r-core" }, as(alice));
    await certificates.issueCertificate({ requestId: "r-core" }, as(alice));
    expect(calls).toBe(2);
  });
});

describe("which RPCs take part", () => {
  // Every generated chancery.admin.v1 service, so one added later is checked too.
  let adminServices: DescService[];
  beforeAll(async () => {
    const dir = new URL("../gen/chancery/admin/v1/", import.meta.url);
    const modules = await Promise.all(
      readdirSync(dir)
        .filter((f) => f.endsWith("_pb.js"))
        .map((f) => import(new URL(f, dir).href) as Promise<Record<string, unknown>>),
    );
    adminServices = modules.flatMap((m) =>
      Object.values(m).filter((v): v is DescService => (v as { kind?: unknown } | null)?.kind === "service"),
    );
    expect(adminServices).toEqual(expect.arrayContaining([UserService, CertificateAuthorityService]));
  });

  it("finds request_id in the create requests that declare it", () => {
    const withRequestId = adminServices.flatMap((s) =>
      s.methods.filter((m) => requestIdField(m.input)).map((m) => `${s.name}/${m.name}`),
    );
    expect(withRequestId).toEqual(
      expect.arrayContaining([
        "UserService/CreateUser",
        "CertificateAuthorityService/CreateRootCertificateAuthority",
        "CertificateAuthorityService/CreateIntermediateCertificateAuthority",
        "CertificateAuthorityService/CreateExternalCertificateAuthority",
        "CertificateAuthorityService/ImportSignedCertificate",
        "CertificateAuthorityService/ImportCertificateAuthority",
      ]),
    );
  });

  // Regression guard: a stored response is plaintext in the database. When a
  // request_id is added to an RPC that answers with a secret (a token, an
  // enrollment code, a PKCS#12), its field must be marked
  // [debug_redact = true] so the interceptor keeps no copy.
  it("has every secret-looking field of an idempotent RPC's response marked debug_redact", () => {
    const secretLooking = /secret|code|pkcs12|private_key|passphrase|password/;
    const unmarked: string[] = [];
    const walk = (schema: DescMessage, path: string, seen: Set<DescMessage>) => {
      if (seen.has(schema)) return;
      seen.add(schema);
      for (const f of schema.fields) {
        // Only scalar fields hold a secret's value; a message field named like one (a record about a
        // secret, a Duration "secret_lifetime") is walked into instead.
        const scalar = f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar");
        if (scalar && secretLooking.test(f.name) && f.proto.options?.debugRedact !== true)
          unmarked.push(`${path}.${f.name}`);
        if (f.message) walk(f.message, `${path}.${f.name}`, seen);
      }
    };
    for (const service of adminServices)
      for (const method of service.methods)
        if (requestIdField(method.input) && method.name !== "IssueCertificate")
          walk(method.output, `${service.name}/${method.name}`, new Set());
    expect(unmarked).toEqual([]);
  });

  it("sees debug_redact at any depth of a response", () => {
    expect(containsSecret(Things.method["makeSecret"]!.output)).toBe(true);
    expect(containsSecret(Things.method["make"]!.output)).toBe(false);
    expect(containsSecret(UserService.method.createUser.output)).toBe(false);
  });
});
