import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { testLogger } from "../../test/support/test-core.ts";
import { type Listener, startListener } from "./http-listener.ts";
import { createOpsApp } from "./ops-app.ts";

describe("ops listener", () => {
  let listener: Listener | undefined;
  afterEach(async () => listener?.close());

  it("answers /readyz 503 when the database check fails or hangs, while /healthz stays 200", async () => {
    let mode: "ok" | "fail" | "hang" = "ok";
    const app = createOpsApp({
      registry: new Registry(),
      logger: testLogger,
      checkDatabase: () =>
        mode === "ok" ? Promise.resolve() : mode === "fail" ? Promise.reject(new Error("down")) : new Promise(() => {}),
    });
    listener = await startListener(app.callback(), "127.0.0.1:0");
    const base = `http://${listener.address}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    mode = "fail";
    const failed = await fetch(`${base}/readyz`);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual({ status: "not ready", database: "unreachable" });
    mode = "hang";
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
