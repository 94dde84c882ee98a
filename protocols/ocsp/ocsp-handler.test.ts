import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/core/actor.ts";
import type { CertificateAuthority } from "../../src/core/ca/certificate-authority.ts";
import { ocspErrorResponse } from "../../src/core/ocsp/ocsp-response-status.ts";
import { createOcspService, type OcspService } from "../../src/core/ocsp/ocsp-service.ts";
import { opensslOcspRequest, opensslReadResponse } from "../../src/core/ocsp/testing/openssl-ocsp.ts";
import { subscribeToRevocations } from "../../src/store/ocsp-revocation-channel.ts";
import {
  issueTlsServerCertificate,
  startBootstrappedCore,
  stopTestCore,
  type TestCore,
} from "../../test/support/bootstrapped-core.ts";
import { movableClock } from "../../test/support/movable-clock.ts";
import { testLogger } from "../../test/support/test-core.ts";
import type { TestDatabase } from "../../test/support/test-database.ts";
import { createRevocationListener } from "./routes.ts";

const admin: Actor = { actor: "user:ocsp-handler-test" };

/**
 * The raw-request lookup of the OCSP handler (a repeated GET path or POST
 * body answered without parsing): what it may answer, and that revocations,
 * here or on another replica, reach it at once.
 */
describe("OCSP handler: repeated requests answered by their raw bytes", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let trusted: Buffer[];
  const clock = movableClock();
  const servers: http.Server[] = [];

  /** A listener over `ocsp`, counting the requests that reach the parser (respond) rather than the lookup. */
  async function listen(ocsp: OcspService): Promise<{ base: string; parsed: () => number }> {
    let parsed = 0;
    const server = http.createServer(
      createRevocationListener({
        ocsp: {
          respond: (der, requestKey) => {
            parsed++;
            return ocsp.respond(der, requestKey);
          },
          cached: (requestKey) => ocsp.cached(requestKey),
        },
        crls: core.crls,
        cas: core.cas,
        clock,
        logger: testLogger,
      }),
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, parsed: () => parsed };
  }

  const issue = (name: string) => issueTlsServerCertificate(core, issuing.id, name, admin.actor);

  /** openssl's reading of a response for `leafDer` ("cert0.pem: good" ...), verified. */
  function statusIn(body: Buffer, leafDer: Uint8Array): string {
    const text = opensslReadResponse({
      responseDer: body,
      trustedDer: trusted,
      issuerDer: issuing.certificateDer!,
      certsDer: [leafDer],
    });
    expect(text.stderr.trim()).toBe("Response verify OK");
    return /cert0\.pem: (\w+)/.exec(text.stdout)![1]!;
  }

  const get = (base: string, request: Buffer, headers: Record<string, string> = {}, method = "GET") =>
    fetch(`${base}/ocsp/${encodeURIComponent(request.toString("base64"))}`, { method, headers });
  const post = (base: string, request: Buffer) =>
    fetch(`${base}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: request });

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 8, clock }));
    trusted = [issuing.certificateDer!, ...issuing.chainDer];
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await stopTestCore(db, core);
  });

  it("answers a repeated GET, HEAD or POST without parsing it, with the same bytes and headers", async () => {
    const { base, parsed } = await listen(core.ocsp);
    const leaf = await issue("repeat.handler.example");
    const request = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });

    // Time held still: Cache-Control's max-age counts down to nextUpdate, and a second boundary crossed
    // between the two answers (a busy machine) would rightly change it.
    clock.hold();
    const first = await get(base, request);
    const body = Buffer.from(await first.arrayBuffer());
    expect(statusIn(body, leaf.der)).toBe("good");
    expect(parsed()).toBe(1);
    const again = await get(base, request);
    clock.release();
    expect(Buffer.from(await again.arrayBuffer()).equals(body)).toBe(true);
    expect(parsed()).toBe(1);
    for (const name of ["etag", "last-modified", "expires", "cache-control", "content-type", "content-length"])
      expect(again.headers.get(name)).toBe(first.headers.get(name));

    const head = await get(base, request, {}, "HEAD");
    expect(head.status).toBe(200);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expect(head.headers.get("etag")).toBe(first.headers.get("etag"));

    // POST: parsed once (its own key), then answered by its bytes.
    for (let i = 0; i < 2; i++) expect(Buffer.from(await (await post(base, request)).arrayBuffer())).toEqual(body);
    expect(parsed()).toBe(2);

    // Conditional requests on the raw path: 304 for the ETag (and If-Modified-Since), 200 for another tag.
    const etag = first.headers.get("etag")!;
    expect((await get(base, request, { "If-None-Match": etag })).status).toBe(304);
    expect((await get(base, request, { "If-None-Match": `W/${etag}, "other"` })).status).toBe(304);
    expect((await get(base, request, { "If-Modified-Since": first.headers.get("last-modified")! })).status).toBe(304);
    expect((await get(base, request, { "If-None-Match": '"other"' })).status).toBe(200);
    expect(parsed()).toBe(2);
  });

  it("survives a client that goes away mid-body, and answers the next request", async () => {
    const { base } = await listen(core.ocsp);
    const { port } = new URL(base);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => {
        socket.write("POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0abc");
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
      socket.on("error", reject);
    });
    const malformed = Buffer.from(ocspErrorResponse("malformedRequest"));
    const answer = await fetch(`${base}/ocsp`, { method: "POST", body: Buffer.from("garbage") });
    expect(Buffer.from(await answer.arrayBuffer())).toEqual(malformed);
  });

  it("keeps max-age counting down to nextUpdate while ETag, Last-Modified and Expires stay", async () => {
    const { base } = await listen(core.ocsp);
    const leaf = await issue("max-age.handler.example");
    const request = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
    const maxAge = (response: Response) => Number(/max-age=(\d+)$/.exec(response.headers.get("cache-control")!)![1]);
    /** A GET, and the max-age it must carry: whole seconds to nextUpdate as of some moment during the request. */
    const timed = async () => {
      const before = clock.now().getTime();
      const response = await get(base, request);
      const after = clock.now().getTime();
      const expires = Date.parse(response.headers.get("expires")!);
      expect(maxAge(response)).toBeGreaterThanOrEqual(Math.floor((expires - after) / 1000));
      expect(maxAge(response)).toBeLessThanOrEqual(Math.floor((expires - before) / 1000));
      return response;
    };
    const first = await timed();
    clock.advance(10_000);
    const later = await timed();
    expect(maxAge(first) - maxAge(later)).toBeGreaterThanOrEqual(9);
    expect(maxAge(first) - maxAge(later)).toBeLessThanOrEqual(11);
    for (const name of ["etag", "last-modified", "expires"])
      expect(later.headers.get(name)).toBe(first.headers.get(name));
  });

  it("never answers a nonce request or a malformed one from the lookup", async () => {
    const { base, parsed } = await listen(core.ocsp);
    const leaf = await issue("nonce.handler.example");
    const withNonce = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: true });
    const bodies: Buffer[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await post(base, withNonce);
      expect(response.headers.get("cache-control")).toBe("no-cache, no-store");
      bodies.push(Buffer.from(await response.arrayBuffer()));
    }
    // Each signed for the request (a new producedAt and signature), never the first one again.
    expect(bodies[0]!.equals(bodies[1]!)).toBe(false);
    expect(parsed()).toBe(2);

    const malformed = Buffer.from(ocspErrorResponse("malformedRequest"));
    const garbage = Buffer.from("30031234", "hex");
    for (let i = 0; i < 2; i++) {
      expect(Buffer.from(await (await post(base, garbage)).arrayBuffer())).toEqual(malformed);
      expect(Buffer.from(await (await get(base, garbage)).arrayBuffer())).toEqual(malformed);
    }
    expect(parsed()).toBe(6);
  });

  it("a revocation here, or on another replica (NOTIFY), reaches repeated requests at once", async () => {
    const here = await listen(core.ocsp);
    const replica = createOcspService({
      pool: db.pool,
      cas: core.cas,
      responders: core.ocspResponders,
      clock,
      logger: testLogger,
    });
    const there = await listen(replica);
    let listening = false;
    const subscription = subscribeToRevocations({
      connectionUri: db.url,
      onRevoked: ({ caId, serialHex }) => replica.invalidate(caId, serialHex),
      onResync: () => {
        listening = true;
        replica.invalidateAll();
      },
      logger: testLogger,
    });
    try {
      await expect.poll(() => listening, { timeout: 10_000 }).toBe(true);
      const leaf = await issue("revoked.handler.example");
      const request = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
      for (const { base } of [here, there])
        for (let i = 0; i < 2; i++) {
          expect(statusIn(Buffer.from(await (await get(base, request)).arrayBuffer()), leaf.der)).toBe("good");
          expect(statusIn(Buffer.from(await (await post(base, request)).arrayBuffer()), leaf.der)).toBe("good");
        }
      const parsedThere = there.parsed();

      await core.issuance.revoke({ serialHex: leaf.serialHex, reason: "keyCompromise" }, admin);
      // Here: dropped in the revocation itself, before it returns.
      expect(statusIn(Buffer.from(await (await get(here.base, request)).arrayBuffer()), leaf.der)).toBe("revoked");
      expect(statusIn(Buffer.from(await (await post(here.base, request)).arrayBuffer()), leaf.der)).toBe("revoked");
      // There: as soon as the notification arrives; the same raw requests then go through the parser once more.
      await expect
        .poll(async () => statusIn(Buffer.from(await (await get(there.base, request)).arrayBuffer()), leaf.der), {
          timeout: 5_000,
          interval: 50,
        })
        .toBe("revoked");
      expect(statusIn(Buffer.from(await (await post(there.base, request)).arrayBuffer()), leaf.der)).toBe("revoked");
      expect(there.parsed()).toBeGreaterThan(parsedThere);
    } finally {
      await subscription.close();
    }
  });
});
