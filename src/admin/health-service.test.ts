import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AuditService, VerifyAuditChainResponseSchema } from "../gen/chancery/admin/v1/audit_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/health/v1/health_pb.js";
import type { Listener } from "../ops/http-listener.ts";
import { startAdminListener } from "./admin-listener.ts";
import { createHealthService } from "./health-service.ts";
import {
  createGrpcClient,
  createTestTls,
  grpcServerStream,
  grpcUnary,
  messageQueue,
  type TestTls,
} from "./testing/grpc-test-client.ts";

const auditServiceName = "chancery.admin.v1.AuditService";
const watchIntervalMs = 50;

describe("grpc.health.v1.Health on the admin listener", () => {
  let testTls: TestTls;
  let listener: Listener;
  let client: grpc.Client;
  let mode: "serving" | "down" | "throws" | "hangs" = "serving";
  let checks: string[] = [];

  beforeAll(async () => {
    testTls = createTestTls();
    listener = await startAdminListener({
      address: "127.0.0.1:0",
      tls: testTls.tls,
      routes: (router) => {
        // Test scaffolding only: one admin API service so the health service has a real neighbour.
        router.service(AuditService, {
          verifyAuditChain: () => create(VerifyAuditChainResponseSchema, { intact: true }),
        });
        router.service(
          Health,
          createHealthService({
            services: [auditServiceName],
            check: (service) => {
              checks.push(service);
              if (mode === "throws") return Promise.reject(new Error("database unreachable"));
              if (mode === "hangs") return new Promise(() => {});
              return Promise.resolve(mode === "serving");
            },
            watchIntervalMs,
            checkTimeoutMs: 200,
          }),
        );
      },
    });
    client = createGrpcClient(listener.address, testTls.certPem);
  });
  afterAll(async () => {
    client?.close();
    await listener?.close();
    testTls?.cleanup();
  });
  beforeEach(() => {
    mode = "serving";
    checks = [];
  });

  it("Check answers SERVING for the server and a known service, NOT_SERVING when the check says no", async () => {
    expect((await grpcUnary(client, Health.method.check, { service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await grpcUnary(client, Health.method.check, { service: auditServiceName })).status).toBe(
      ServingStatus.SERVING,
    );
    expect(checks).toEqual(["", auditServiceName]);
    mode = "down";
    expect((await grpcUnary(client, Health.method.check, { service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await grpcUnary(client, Health.method.check, { service: auditServiceName })).status).toBe(
      ServingStatus.NOT_SERVING,
    );
  });

  it("Check counts a failing or hanging check as NOT_SERVING, without leaking the error", async () => {
    mode = "throws";
    expect((await grpcUnary(client, Health.method.check, { service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    mode = "hangs";
    const started = Date.now();
    expect((await grpcUnary(client, Health.method.check, { service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("Check of an unknown service fails with NOT_FOUND, as the health-checking spec says", async () => {
    const error = await grpcUnary(client, Health.method.check, { service: "no.such.Service" }).then(
      () => undefined,
      (err: grpc.ServiceError) => err,
    );
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    expect(checks).toEqual([]);
  });

  it("Watch sends the current status, then each change, and stops checking when the client cancels", async () => {
    const call = grpcServerStream(client, Health.method.watch, { service: auditServiceName });
    call.on("error", () => {}); // the cancel below surfaces as CANCELLED
    const messages = messageQueue<{ status: ServingStatus }>(call);
    expect((await messages.next()).status).toBe(ServingStatus.SERVING);
    mode = "down";
    expect((await messages.next()).status).toBe(ServingStatus.NOT_SERVING);
    mode = "serving";
    expect((await messages.next()).status).toBe(ServingStatus.SERVING);
    // No message while nothing changes, although the check keeps running.
    const before = checks.length;
    await expect(messages.next(watchIntervalMs * 5)).rejects.toThrow(/no message/);
    expect(checks.length).toBeGreaterThan(before);

    call.cancel();
    // Once the server has seen the stream close, the poll timer is gone with it: no more checks.
    const checksDuring = async (ms: number) => {
      const start = checks.length;
      await sleep(ms);
      return checks.length - start;
    };
    await expect.poll(() => checksDuring(watchIntervalMs * 4), { timeout: 3_000, interval: 0 }).toBe(0);
    expect(await checksDuring(watchIntervalMs * 6)).toBe(0);
  });

  it("Watch of an unknown service says SERVICE_UNKNOWN and keeps the call open", async () => {
    const call = grpcServerStream(client, Health.method.watch, { service: "no.such.Service" });
    let ended = false;
    call.on("error", () => {});
    call.on("end", () => {
      ended = true;
    });
    const messages = messageQueue<{ status: ServingStatus }>(call);
    expect((await messages.next()).status).toBe(ServingStatus.SERVICE_UNKNOWN);
    await sleep(watchIntervalMs * 4);
    expect(ended).toBe(false);
    call.cancel();
  });

  it("List reports the server and every known service", async () => {
    mode = "down";
    const list = await grpcUnary(client, Health.method.list, {});
    expect(Object.keys(list.statuses).sort()).toEqual(["", auditServiceName]);
    expect(list.statuses[auditServiceName]?.status).toBe(ServingStatus.NOT_SERVING);
  });

  it("Check also answers Connect JSON over HTTP/1.1", async () => {
    const ok = await postJsonHttp1(`https://${listener.address}/grpc.health.v1.Health/Check`, { service: "" });
    expect(ok).toEqual({ httpVersion: "1.1", status: 200, body: { status: "SERVING" } });
    mode = "down";
    const down = await postJsonHttp1(`https://${listener.address}/grpc.health.v1.Health/Check`, {
      service: auditServiceName,
    });
    expect(down.body).toEqual({ status: "NOT_SERVING" });
    const unknown = await postJsonHttp1(`https://${listener.address}/grpc.health.v1.Health/Check`, {
      service: "no.such.Service",
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: "not_found" });
  });

  // node:https speaks HTTP/1.1 only (no ALPN h2), so this is the plain-curl path through allowHTTP1.
  function postJsonHttp1(
    url: string,
    body: unknown,
  ): Promise<{ httpVersion: string; status: number | undefined; body: unknown }> {
    return new Promise((resolve, reject) => {
      const request = https.request(
        url,
        { method: "POST", ca: testTls.certPem, headers: { "content-type": "application/json" } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () =>
            resolve({
              httpVersion: response.httpVersion,
              status: response.statusCode,
              body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
            }),
          );
        },
      );
      request.on("error", reject);
      request.end(JSON.stringify(body));
    });
  }
});
