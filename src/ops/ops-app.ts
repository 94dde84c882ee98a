import Router from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

/**
 * The metrics/health listener: /healthz says the process is alive (for a
 * liveness probe, never touching the database), /readyz says it can serve
 * (database reachable), /metrics is Prometheus text exposition.
 */
export function createOpsApp(deps: { registry: Registry; checkDatabase: () => Promise<void>; logger: Logger }): Koa {
  const app = new Koa();
  const router = new Router();
  router.get("/healthz", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = { status: "ok" };
  });
  router.get("/readyz", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    try {
      await withTimeout(deps.checkDatabase(), 2000);
      ctx.body = { status: "ready", database: "ok" };
    } catch (err) {
      deps.logger.warn({ err }, "readiness check failed");
      ctx.status = 503;
      ctx.body = { status: "not ready", database: "unreachable" };
    }
  });
  router.get("/metrics", async (ctx) => {
    ctx.set("Content-Type", deps.registry.contentType);
    ctx.body = await deps.registry.metrics();
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
