import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
} from "../gen/health/v1/health_pb.js";

export interface HealthServiceOptions {
  /**
   * Fully-qualified names of the services whose health is reported, e.g.
   * "chancery.admin.v1.UserService". The empty name (the server as a whole)
   * is always known; any other name is NOT_FOUND.
   */
  readonly services: readonly string[];
  /**
   * Whether `service` ("" for the server as a whole) can serve right now,
   * e.g. whether the database answers. A rejection, or no answer within
   * `checkTimeoutMs`, counts as not serving.
   */
  readonly check: (service: string) => Promise<boolean>;
  /** How often an open Watch re-runs the check; a change is sent at the next run. Default 5000. */
  readonly watchIntervalMs?: number;
  /** Longest a check may take before the service counts as not serving. Default 2000, as /readyz. */
  readonly checkTimeoutMs?: number;
}

const defaultWatchIntervalMs = 5_000;
const defaultCheckTimeoutMs = 2_000;

/**
 * grpc.health.v1.Health (https://github.com/grpc/grpc/blob/master/doc/health-checking.md)
 * for `router.service(Health, createHealthService(...))`: what Kubernetes
 * gRPC probes, Envoy and grpc_health_probe ask. connect-node ships none.
 */
export function createHealthService(options: HealthServiceOptions): ServiceImpl<typeof Health> {
  const known = new Set(["", ...options.services]);
  const watchIntervalMs = options.watchIntervalMs ?? defaultWatchIntervalMs;
  const checkTimeoutMs = options.checkTimeoutMs ?? defaultCheckTimeoutMs;
  // One check per service at a time, however many probes and watchers ask:
  // concurrent callers share the answer rather than each querying the database.
  const running = new Map<string, Promise<HealthCheckResponse_ServingStatus>>();

  function statusOf(service: string): Promise<HealthCheckResponse_ServingStatus> {
    let pending = running.get(service);
    if (!pending) {
      pending = runCheck(() => options.check(service), checkTimeoutMs).finally(() => running.delete(service));
      running.set(service, pending);
    }
    return pending;
  }

  function response(status: HealthCheckResponse_ServingStatus): HealthCheckResponse {
    return create(HealthCheckResponseSchema, { status });
  }

  return {
    async check(request) {
      // health-checking.md: "If the requested service is unknown, the call will fail with status NOT_FOUND."
      if (!known.has(request.service)) throw new ConnectError(`unknown service ${request.service}`, Code.NotFound);
      return response(await statusOf(request.service));
    },

    async *watch(request, context) {
      const signal = context.signal;
      if (!known.has(request.service)) {
        // health-checking.md: an unknown service gets SERVICE_UNKNOWN and the
        // call stays open. Our set of services is fixed, so nothing follows.
        yield response(HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN);
        await aborted(signal);
        return;
      }
      // The current status at once, then one message per change, until the client goes away.
      let last: HealthCheckResponse_ServingStatus | undefined;
      while (!signal.aborted) {
        const status = await statusOf(request.service);
        if (signal.aborted) return;
        if (status !== last) {
          last = status;
          yield response(status);
        }
        try {
          await sleep(watchIntervalMs, undefined, { signal });
        } catch {
          return; // aborted: the timer is already cleared
        }
      }
    },

    async list() {
      const statuses: Record<string, HealthCheckResponse> = {};
      await Promise.all(
        [...known].map(async (service) => {
          statuses[service] = response(await statusOf(service));
        }),
      );
      return create(HealthListResponseSchema, { statuses });
    },
  };
}

async function runCheck(check: () => Promise<boolean>, timeoutMs: number): Promise<HealthCheckResponse_ServingStatus> {
  const timeout = new AbortController();
  try {
    const serving = await Promise.race([
      check(),
      sleep(timeoutMs, false, { signal: timeout.signal, ref: false }).catch(() => false),
    ]);
    return serving ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING;
  } catch {
    // The check's own error is the caller's to log; to a client it only means "not serving".
    return HealthCheckResponse_ServingStatus.NOT_SERVING;
  } finally {
    timeout.abort();
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
