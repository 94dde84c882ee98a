import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
} from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService, VerifyAuditChainResponseSchema } from "../gen/chancery/admin/v1/audit_pb.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { Health } from "../gen/health/v1/health_pb.js";
import type { Listener } from "../ops/http-listener.ts";
import { startAdminListener } from "./admin-listener.ts";
import { createHealthService } from "./health-service.ts";
import { registerReflection } from "./reflection-service.ts";
import {
  createGrpcClient,
  createTestTls,
  grpcBidiStream,
  messageQueue,
  type TestTls,
} from "./testing/grpc-test-client.ts";

const execFileAsync = promisify(execFile);
const buf = path.resolve("node_modules/.bin/buf");

const registeredServices = [
  "chancery.admin.v1.AuditService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

// A file given through `files` rather than by a registered service: a custom method option, so the
// extension questions have something to find (our admin protos declare no extensions).
const customOptions = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "chancery/testing/options.proto",
    package: "chancery.testing",
    syntax: "proto3",
    dependency: ["google/protobuf/descriptor.proto"],
    extension: [
      {
        name: "audit_action",
        number: 50001,
        label: FieldDescriptorProto_Label.OPTIONAL,
        type: FieldDescriptorProto_Type.STRING,
        extendee: ".google.protobuf.MethodOptions",
        jsonName: "auditAction",
      },
    ],
  }),
  (name) => (name === "google/protobuf/descriptor.proto" ? file_google_protobuf_descriptor : undefined),
);

describe("gRPC server reflection on the admin listener", () => {
  let testTls: TestTls;
  let listener: Listener;
  let client: grpc.Client;
  let bufCache: string;

  beforeAll(async () => {
    testTls = createTestTls();
    bufCache = mkdtempSync(path.join(tmpdir(), "chancery-buf-cache-"));
    listener = await startAdminListener({
      address: "127.0.0.1:0",
      tls: testTls.tls,
      routes: (router) => {
        // Reflection first: it must still list the services registered after it.
        registerReflection(router, { files: customOptions });
        // Test scaffolding only: a fixed answer, so `buf curl` has a real admin method to call.
        router.service(AuditService, {
          verifyAuditChain: () => create(VerifyAuditChainResponseSchema, { intact: true, checkedEvents: 3n }),
        });
        router.service(Health, createHealthService({ services: [], check: async () => true }));
      },
    });
    client = createGrpcClient(listener.address, testTls.certPem);
  });
  afterAll(async () => {
    client?.close();
    await listener?.close();
    testTls?.cleanup();
    if (bufCache) rmSync(bufCache, { recursive: true, force: true });
  });

  // The two protocol versions share one implementation; both are asked the same questions through grpc-js.
  for (const version of [
    { name: "v1", method: v1.ServerReflection.method.serverReflectionInfo },
    { name: "v1alpha", method: v1alpha.ServerReflection.method.serverReflectionInfo },
  ] as const) {
    describe(`grpc.reflection.${version.name}`, () => {
      // The generated v1 and v1alpha types have the same shape; the v1 type stands for both in the test.
      const method = version.method as typeof v1.ServerReflection.method.serverReflectionInfo;
      function open() {
        const call = grpcBidiStream(client, method);
        const responses = messageQueue<v1.ServerReflectionResponse>(call);
        return {
          async ask(request: MessageInitShape<typeof v1.ServerReflectionRequestSchema>["messageRequest"]) {
            call.write(create(method.input, { host: "admin.example", messageRequest: request }));
            return responses.next();
          },
          end: () => call.end(),
        };
      }

      function fileNames(response: v1.ServerReflectionResponse): string[] {
        if (response.messageResponse.case !== "fileDescriptorResponse") {
          throw new Error(`expected files, got ${JSON.stringify(response.messageResponse)}`);
        }
        return response.messageResponse.value.fileDescriptorProto.map(
          (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
        );
      }

      function errorCode(response: v1.ServerReflectionResponse): number | undefined {
        return response.messageResponse.case === "errorResponse" ? response.messageResponse.value.errorCode : undefined;
      }

      it("lists every registered service, itself and health included, echoing host and request", async () => {
        const stream = open();
        const response = await stream.ask({ case: "listServices", value: "*" });
        expect(response.validHost).toBe("admin.example");
        expect(response.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
        expect(response.messageResponse.case).toBe("listServicesResponse");
        const names =
          response.messageResponse.case === "listServicesResponse"
            ? response.messageResponse.value.service.map((s) => s.name)
            : [];
        expect(names).toEqual(registeredServices);
        stream.end();
      });

      it("answers file_containing_symbol with the file and its imports, each import once per stream", async () => {
        const stream = open();
        const first = await stream.ask({ case: "fileContainingSymbol", value: "chancery.admin.v1.AuditService" });
        const files = first.messageResponse.case === "fileDescriptorResponse" ? first.messageResponse.value : undefined;
        expect(fileNames(first)[0]).toBe("chancery/admin/v1/audit.proto");
        expect(fileNames(first).sort()).toEqual([
          "chancery/admin/v1/audit.proto",
          "google/protobuf/struct.proto",
          "google/protobuf/timestamp.proto",
        ]);
        // What a client receives is enough to rebuild the schema and resolve the method types
        // (the requested file comes first, its imports after it, as from grpc-go).
        const [root, ...imports] = (files?.fileDescriptorProto ?? []).map((bytes) =>
          fromBinary(FileDescriptorProtoSchema, bytes),
        );
        const registry = createFileRegistry(root!, (name) => imports.find((file) => file.name === name));
        const service = registry.getService("chancery.admin.v1.AuditService");
        expect(service?.methods.map((m) => m.name)).toEqual([
          "ListAuditEvents",
          "ExportAuditEvents",
          "VerifyAuditChain",
        ]);
        expect(registry.getMessage("chancery.admin.v1.AuditEvent")?.field["occurTime"]?.message?.typeName).toBe(
          "google.protobuf.Timestamp",
        );

        // Asked again on the same stream: the requested file again, its imports not.
        const again = await stream.ask({ case: "fileByFilename", value: "chancery/admin/v1/audit.proto" });
        expect(fileNames(again)).toEqual(["chancery/admin/v1/audit.proto"]);
        const timestamp = await stream.ask({ case: "fileContainingSymbol", value: "google.protobuf.Timestamp" });
        expect(fileNames(timestamp)).toEqual(["google/protobuf/timestamp.proto"]);
        stream.end();

        // A new stream starts afresh.
        const fresh = open();
        expect(
          fileNames(await fresh.ask({ case: "fileByFilename", value: "chancery/admin/v1/audit.proto" })),
        ).toHaveLength(3);
        fresh.end();
      });

      it("finds methods, fields, nested enums, enum values and names with a leading dot", async () => {
        const stream = open();
        const cases: Array<[string, string]> = [
          [".chancery.admin.v1.AuditService", "chancery/admin/v1/audit.proto"],
          ["chancery.admin.v1.AuditService.VerifyAuditChain", "chancery/admin/v1/audit.proto"],
          ["chancery.admin.v1.AuditEvent", "chancery/admin/v1/audit.proto"],
          ["chancery.admin.v1.AuditEvent.occur_time", "chancery/admin/v1/audit.proto"],
          ["grpc.health.v1.HealthCheckResponse.ServingStatus", "health/v1/health.proto"],
          ["grpc.health.v1.HealthCheckResponse.SERVING", "health/v1/health.proto"],
          ["grpc.health.v1.Health.Watch", "health/v1/health.proto"],
          ["google.protobuf.Struct", "google/protobuf/struct.proto"],
          ["google.protobuf.NullValue", "google/protobuf/struct.proto"],
          [`grpc.reflection.${version.name}.ServerReflection`, `grpc/reflection/${version.name}/reflection.proto`],
        ];
        for (const [symbol, file] of cases) {
          expect(fileNames(await stream.ask({ case: "fileContainingSymbol", value: symbol }))[0], symbol).toBe(file);
        }
        stream.end();
      });

      it("answers NOT_FOUND for unknown symbols, files and extensions, and keeps the stream open", async () => {
        const stream = open();
        const unknown = await stream.ask({ case: "fileContainingSymbol", value: "chancery.admin.v1.NoSuchService" });
        expect(errorCode(unknown)).toBe(5);
        expect(unknown.originalRequest?.messageRequest.value).toBe("chancery.admin.v1.NoSuchService");
        expect(errorCode(await stream.ask({ case: "fileContainingSymbol", value: "chancery.admin" }))).toBe(5);
        expect(errorCode(await stream.ask({ case: "fileByFilename", value: "chancery/admin/v1/nope.proto" }))).toBe(5);
        const extension = await stream.ask({
          case: "fileContainingExtension",
          value: { containingType: "chancery.admin.v1.AuditEvent", extensionNumber: 100 },
        });
        expect(errorCode(extension)).toBe(5);
        expect(errorCode(await stream.ask({ case: "allExtensionNumbersOfType", value: "no.such.Type" }))).toBe(5);
        const numbers = await stream.ask({ case: "allExtensionNumbersOfType", value: "chancery.admin.v1.AuditEvent" });
        expect(numbers.messageResponse).toEqual({
          case: "allExtensionNumbersResponse",
          value: expect.objectContaining({ baseTypeName: "chancery.admin.v1.AuditEvent", extensionNumber: [] }),
        });
        expect(errorCode(await stream.ask({ case: undefined }))).toBe(3);
        expect(
          errorCode(
            await stream.ask({
              case: "fileContainingExtension",
              value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 50002 },
            }),
          ),
        ).toBe(5);
        // Still usable after the errors.
        expect(fileNames(await stream.ask({ case: "fileContainingSymbol", value: "grpc.health.v1.Health" }))).toEqual([
          "health/v1/health.proto",
        ]);
        stream.end();
      });
    });
  }

  it("serves extensions from files given through the `files` option", async () => {
    const call = grpcBidiStream(client, v1.ServerReflection.method.serverReflectionInfo);
    const responses = messageQueue<v1.ServerReflectionResponse>(call);
    async function ask(request: MessageInitShape<typeof v1.ServerReflectionRequestSchema>["messageRequest"]) {
      call.write(create(v1.ServerReflectionRequestSchema, { messageRequest: request }));
      return (await responses.next()).messageResponse;
    }
    const names = (answer: v1.ServerReflectionResponse["messageResponse"]) =>
      answer.case === "fileDescriptorResponse"
        ? answer.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name)
        : answer;

    expect(
      names(
        await ask({
          case: "fileContainingExtension",
          value: { containingType: ".google.protobuf.MethodOptions", extensionNumber: 50001 },
        }),
      ),
    ).toEqual(["chancery/testing/options.proto", "google/protobuf/descriptor.proto"]);
    const numbers = await ask({ case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" });
    expect(numbers.case === "allExtensionNumbersResponse" && numbers.value.extensionNumber).toEqual([50001]);
    expect(names(await ask({ case: "fileContainingSymbol", value: "chancery.testing.audit_action" }))).toEqual([
      "chancery/testing/options.proto",
    ]);
    const descriptor = await ask({ case: "fileByFilename", value: "google/protobuf/descriptor.proto" });
    expect(names(descriptor)).toEqual(["google/protobuf/descriptor.proto"]);
    call.end();
  });

  describe("buf curl (the real CLI) using reflection", () => {
    async function bufCurl(args: string[]): Promise<string> {
      const { stdout } = await execFileAsync(buf, ["curl", "--cacert", testTls.certFile, ...args], {
        env: { ...process.env, BUF_CACHE_DIR: bufCache },
        timeout: 20_000,
      });
      return stdout;
    }

    it("lists the services and the methods of one", async () => {
      const services = await bufCurl(["--list-services", `https://${listener.address}`]);
      expect(services.trim().split("\n")).toEqual(registeredServices);
      const methods = await bufCurl(["--list-methods", `https://${listener.address}`]);
      expect(methods.trim().split("\n")).toEqual(
        expect.arrayContaining([
          "chancery.admin.v1.AuditService/ListAuditEvents",
          "chancery.admin.v1.AuditService/ExportAuditEvents",
          "chancery.admin.v1.AuditService/VerifyAuditChain",
          "grpc.health.v1.Health/Check",
          "grpc.health.v1.Health/Watch",
          "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        ]),
      );
    });

    for (const protocol of ["connect", "grpc", "grpcweb"]) {
      it(`calls AuditService/VerifyAuditChain over ${protocol}, with the schema from reflection`, async () => {
        const out = await bufCurl([
          "--protocol",
          protocol,
          "-d",
          "{}",
          `https://${listener.address}/chancery.admin.v1.AuditService/VerifyAuditChain`,
        ]);
        expect(JSON.parse(out)).toEqual({ intact: true, checkedEvents: "3" });
      });
    }

    it("works with the v1alpha reflection protocol too", async () => {
      const out = await bufCurl([
        "--reflect-protocol",
        "grpc-v1alpha",
        "-d",
        '{"service": ""}',
        `https://${listener.address}/grpc.health.v1.Health/Check`,
      ]);
      expect(JSON.parse(out)).toEqual({ status: "SERVING" });
    });
  });
});
