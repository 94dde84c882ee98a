import Router from "@koa/router";
import type { JWK } from "jose";
import Koa, { type Context } from "koa";
import type { AcmeAccount } from "../../src/core/acme/acme-account.ts";
import type { AcmeAuthorization, AcmeChallenge } from "../../src/core/acme/acme-authorization.ts";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import type { AcmeDirectory } from "../../src/core/acme/acme-types.ts";
import { renewalInfoRetryAfterSeconds } from "../../src/core/acme/renewal-info.ts";
import { isChanceryError } from "../../src/core/errors.ts";
import { type AcmeUrls, acmeUrls } from "./acme-urls.ts";
import {
  accountJson,
  authorizationJson,
  certificateChainPem,
  challengeJson,
  directoryJson,
  orderJson,
} from "./codec.ts";
import { acmeErrorResponse } from "./errors.ts";
import { verifyExternalAccountBinding } from "./external-account-binding.ts";
import { type AcmeKeyRule, type VerifiedRequest, verifyAcmeJws } from "./jws.ts";
import { verifyKeyChange } from "./key-change.ts";
import { readJoseBody } from "./request-body.ts";
import type { AcmeFrontEndDeps } from "./types.ts";

interface AcmeState {
  directory?: AcmeDirectory;
  urls?: AcmeUrls;
}

/** Seconds a client should wait before polling again (RFC 8555 §7.4 / §8.2 Retry-After). */
const pollSeconds = { validating: 2, pendingOrder: 3, approval: 15 };

/**
 * The ACME server (RFC 8555), one Koa app for every directory:
 * /acme/<name>/directory and the resources under it (acme-urls.ts). Every
 * request but the directory, newNonce and renewalInfo is a JWS POST
 * (RFC 8555 §6.2, POST-as-GET for reads §6.3); every response links the
 * directory (Link rel="index", §7.1) and every POST answer carries a fresh
 * Replay-Nonce (§6.5), errors included.
 */
export function createAcmeApp(deps: AcmeFrontEndDeps): Koa<AcmeState> {
  const app = new Koa<AcmeState>();
  app.proxy = false;
  const router = new Router<AcmeState>({ prefix: "/acme/:dir" });

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined)
        throw new AcmeProblem("malformed", "no such ACME resource", { status: 404 });
      // @koa/router's allowedMethods answers a known path with the wrong method (405, Allow set) or an
      // unknown method (501) with an empty text/plain body; every ACME error is a problem document (RFC 8555 §6.7).
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined)
        throw new AcmeProblem("malformed", `method ${ctx.method.slice(0, 16)} not allowed here`, {
          status: ctx.status,
        });
    } catch (err) {
      const response = acmeErrorResponse(err, deps.logger);
      ctx.status = response.status;
      ctx.type = "application/problem+json";
      ctx.body = response.body;
      if (response.retryAfterSeconds !== undefined) ctx.set("Retry-After", String(response.retryAfterSeconds));
      // RFC 8555 §6.5: a badNonce answer (any error, here) carries a nonce the client can retry with.
      if (ctx.method === "POST" || (err instanceof AcmeProblem && err.type === "badNonce"))
        ctx.set("Replay-Nonce", deps.nonces.mint());
      // The directory middleware may already have set it (headers set before a throw stay): once is enough.
      if (ctx.state.urls) {
        const index = `<${ctx.state.urls.directory}>;rel="index"`;
        const links = ctx.response.get("Link");
        if (!(Array.isArray(links) ? links : [links]).includes(index)) ctx.append("Link", index);
      }
    }
  });

  // The directory named in the path, for every route below.
  router.use(async (ctx, next) => {
    const name = ctx.params["dir"] ?? "";
    let directory: AcmeDirectory;
    try {
      directory = await deps.directories.getByName(name);
    } catch (err) {
      if (isChanceryError(err, "not_found") || isChanceryError(err, "invalid_argument"))
        throw new AcmeProblem("malformed", `no ACME directory "${name.slice(0, 64)}"`, { status: 404 });
      throw err;
    }
    // Known before the enabled check, so the refusal of a disabled directory links it too (RFC 8555 §7.1).
    ctx.state.urls = acmeUrls(deps.baseUrl, directory.name);
    if (!directory.enabled)
      throw new AcmeProblem("unauthorized", `ACME directory "${name}" is disabled`, { status: 403 });
    ctx.state.directory = directory;
    ctx.set("Link", `<${ctx.state.urls.directory}>;rel="index"`);
    await next();
  });

  router.get("/directory", async (ctx) => {
    const directory = ctx.state.directory!;
    const descriptions: Record<string, string> = {};
    for (const name of directory.allowedProfiles) {
      const stored = await deps.profiles.get(name).catch(() => null);
      descriptions[name] = stored?.profile.description || name;
    }
    ctx.body = directoryJson(directory, ctx.state.urls!, descriptions);
  });

  // RFC 8555 §7.2: HEAD 200 / GET 204, never cached.
  router.all("/new-nonce", async (ctx) => {
    if (ctx.method !== "GET" && ctx.method !== "HEAD") return methodNotAllowed(ctx, "GET, HEAD");
    ctx.set("Replay-Nonce", deps.nonces.mint());
    ctx.set("Cache-Control", "no-store");
    ctx.status = ctx.method === "HEAD" ? 200 : 204;
  });

  /** Reads and verifies the JWS of a POST (jws.ts), the account it names, and answers with a fresh nonce. */
  async function signed(ctx: Context & { state: AcmeState }, keyRule: AcmeKeyRule) {
    const directory = ctx.state.directory!;
    const urls = ctx.state.urls!;
    ctx.set("Replay-Nonce", deps.nonces.mint());
    const body = await readJoseBody(ctx.req);
    const accounts = new Map<string, AcmeAccount>();
    const verified = await verifyAcmeJws(body, {
      // RFC 8555 §6.4: the url header names exactly the URL requested, query included.
      expectedUrl: `${deps.baseUrl}${ctx.url}`,
      keyRule,
      kidPrefix: `${urls.prefix}/acct/`,
      resolveAccount: async (id) => {
        if (!/^[0-9a-f-]{36}$/.test(id)) return null;
        const account = await deps.accounts.get(id);
        if (!account || account.directoryId !== directory.id) return null;
        accounts.set(id, account);
        return { id: account.id, jwk: account.jwk as never, status: account.status };
      },
      redeemNonce: (nonce) => deps.nonces.redeem(nonce),
    });
    const account = verified.account ? (accounts.get(verified.account.id) ?? null) : null;
    return { verified, account, directory, urls, sourceIp: ctx.ip || undefined };
  }

  function needAccount(account: AcmeAccount | null): AcmeAccount {
    if (!account) throw new AcmeProblem("accountDoesNotExist", "sign with the account URL as kid");
    return account;
  }

  function postAsGet(verified: VerifiedRequest): void {
    if (verified.payload !== undefined)
      throw new AcmeProblem("malformed", "this resource is read with POST-as-GET: an empty payload (RFC 8555 §6.3)");
  }

  function needPayload(verified: VerifiedRequest): Record<string, unknown> {
    if (verified.payload === undefined) throw new AcmeProblem("malformed", "this request needs a JSON object payload");
    return verified.payload;
  }

  router.post("/new-account", async (ctx) => {
    const { verified, directory, urls, sourceIp } = await signed(ctx, "jwk");
    const payload = needPayload(verified);
    const { account, created } = await deps.accounts.newAccount({
      directory,
      jwk: verified.jwk as JWK,
      thumbprint: verified.thumbprint,
      payload,
      sourceIp,
      externalAccountKeyId: async () => {
        const binding = payload["externalAccountBinding"];
        if (binding === undefined) return null;
        const { keyId } = await verifyExternalAccountBinding(binding, {
          accountJwk: verified.jwk,
          expectedUrl: urls.newAccount,
          hmacKeyFor: (kid) => deps.eabKeys.hmacKeyForBinding(directory.id, kid),
        });
        return keyId;
      },
    });
    ctx.status = created ? 201 : 200;
    ctx.set("Location", urls.account(account.id));
    ctx.body = accountJson(account, urls);
  });

  router.post("/acct/:id", async (ctx) => {
    const { verified, account, urls, sourceIp } = await signed(ctx, "kid");
    const self = needAccount(account);
    if (self.id !== ctx.params["id"])
      throw new AcmeProblem("unauthorized", "an account can only read or change itself");
    const updated =
      verified.payload === undefined ? self : await deps.accounts.update(self, verified.payload, sourceIp);
    ctx.set("Location", urls.account(updated.id));
    ctx.body = accountJson(updated, urls);
  });

  router.post("/acct/:id/orders", async (ctx) => {
    const { verified, account, urls } = await signed(ctx, "kid");
    const self = needAccount(account);
    if (self.id !== ctx.params["id"]) throw new AcmeProblem("unauthorized", "an account can only list its own orders");
    postAsGet(verified);
    const cursor = typeof ctx.query["cursor"] === "string" ? ctx.query["cursor"] : undefined;
    const page = await deps.orders.list(self, cursor);
    // RFC 8555 §7.1.2.1: an object with an "orders" array, further pages by Link rel="next".
    if (page.next) ctx.append("Link", `<${urls.orders(self.id)}?cursor=${encodeURIComponent(page.next)}>;rel="next"`);
    ctx.body = { orders: page.orderIds.map(urls.order) };
  });

  router.post("/key-change", async (ctx) => {
    const { verified, account, urls, sourceIp } = await signed(ctx, "kid");
    const self = needAccount(account);
    const { newJwk, newThumbprint } = await verifyKeyChange(needPayload(verified), {
      outerUrl: urls.keyChange,
      accountUrl: urls.account(self.id),
      oldJwk: self.jwk as never,
    });
    const result = await deps.accounts.changeKey(self, { jwk: newJwk as JWK, thumbprint: newThumbprint }, sourceIp);
    if ("conflict" in result) {
      // RFC 8555 §7.3.5: 409 with the Location of the account that has the key.
      ctx.set("Location", urls.account(result.conflict));
      throw new AcmeProblem("malformed", "another account already uses the new key", { status: 409 });
    }
    ctx.set("Location", urls.account(result.account.id));
    ctx.body = accountJson(result.account, urls);
  });

  router.post("/new-order", async (ctx) => {
    const { verified, account, directory, urls, sourceIp } = await signed(ctx, "kid");
    const order = await deps.orders.newOrder(needAccount(account), directory, needPayload(verified), sourceIp);
    ctx.status = 201;
    ctx.set("Location", urls.order(order.id));
    ctx.body = orderJson(order, urls);
  });

  router.post("/new-authz", async (ctx) => {
    const { verified, account, directory, urls, sourceIp } = await signed(ctx, "kid");
    const authorization = await deps.authorizations.newAuthorization(
      needAccount(account),
      directory,
      needPayload(verified),
      sourceIp,
    );
    ctx.status = 201;
    ctx.set("Location", urls.authorization(authorization.id));
    ctx.body = authorizationJson(authorization, urls);
  });

  router.post("/order/:id", async (ctx) => {
    const { verified, account, urls } = await signed(ctx, "kid");
    postAsGet(verified);
    const order = await deps.orders.get(needAccount(account), ctx.params["id"] ?? "");
    if (!order) throw new AcmeProblem("malformed", "no such order", { status: 404 });
    if (order.status === "processing")
      ctx.set("Retry-After", String(order.requestId ? pollSeconds.approval : pollSeconds.validating));
    else if (order.status === "pending") ctx.set("Retry-After", String(pollSeconds.pendingOrder));
    ctx.set("Location", urls.order(order.id));
    ctx.body = orderJson(order, urls);
  });

  router.post("/order/:id/finalize", async (ctx) => {
    const { verified, account, directory, urls, sourceIp } = await signed(ctx, "kid");
    const order = await deps.orders.finalize(
      needAccount(account),
      directory,
      ctx.params["id"] ?? "",
      needPayload(verified),
      sourceIp,
    );
    if (order.status === "processing") ctx.set("Retry-After", String(pollSeconds.approval));
    ctx.set("Location", urls.order(order.id));
    ctx.body = orderJson(order, urls);
  });

  router.post("/authz/:id", async (ctx) => {
    const { verified, account, urls, sourceIp } = await signed(ctx, "kid");
    const self = needAccount(account);
    const id = ctx.params["id"] ?? "";
    let authorization: AcmeAuthorization | null;
    if (verified.payload === undefined) authorization = await deps.authorizations.get(self, id);
    else if (verified.payload["status"] === "deactivated")
      authorization = await deps.authorizations.deactivate(self, id, sourceIp);
    else
      throw new AcmeProblem(
        "malformed",
        'an authorization can only be updated to status "deactivated" (RFC 8555 §7.5.2)',
      );
    if (!authorization) throw new AcmeProblem("malformed", "no such authorization", { status: 404 });
    if (authorization.status === "pending" && authorization.challenges.some((c) => c.status === "processing"))
      ctx.set("Retry-After", String(pollSeconds.validating));
    ctx.body = authorizationJson(authorization, urls);
  });

  router.post("/chall/:id", async (ctx) => {
    const { verified, account, urls, sourceIp } = await signed(ctx, "kid");
    const self = needAccount(account);
    const id = ctx.params["id"] ?? "";
    let challenge: AcmeChallenge | null;
    if (verified.payload === undefined) {
      challenge = await deps.authorizations.getChallenge(self, id);
      if (!challenge) throw new AcmeProblem("malformed", "no such challenge", { status: 404 });
    } else {
      // RFC 8555 §7.5.1: the client's "ready" is an empty JSON object.
      const result = await deps.authorizations.respond(self, id, sourceIp);
      challenge = result.challenge;
      if (result.started) deps.challengeWorker.validateSoon(challenge.id);
    }
    if (challenge.status === "processing") ctx.set("Retry-After", String(pollSeconds.validating));
    ctx.append("Link", `<${urls.authorization(challenge.authorizationId)}>;rel="up"`);
    ctx.body = challengeJson(challenge, urls);
  });

  // Link rel="index" comes from the directory middleware, like every answer's: appending it here doubled it.
  router.post("/cert/:serial", async (ctx) => {
    const { verified, account } = await signed(ctx, "kid");
    postAsGet(verified);
    const serial = ctx.params["serial"] ?? "";
    const chain = /^[0-9a-f]{1,40}$/.test(serial)
      ? await deps.certificates.chainFor(needAccount(account), serial)
      : null;
    if (!chain) throw new AcmeProblem("malformed", "no such certificate", { status: 404 });
    ctx.type = "application/pem-certificate-chain";
    ctx.body = certificateChainPem(chain);
  });

  router.post("/revoke-cert", async (ctx) => {
    const { verified, account, directory, sourceIp } = await signed(ctx, "either");
    await deps.certificates.revoke({
      directory,
      payload: needPayload(verified),
      by: account ? { account } : { jwk: verified.jwk as JWK },
      sourceIp,
    });
    ctx.status = 200;
    ctx.body = "";
  });

  // RFC 9773 §4.1: GET <renewalInfo>/<certID>, unauthenticated.
  router.get("/renewal-info/:certId", async (ctx) => {
    const info = await deps.certificates.renewalInfo(ctx.state.directory!, ctx.params["certId"] ?? "");
    ctx.set("Retry-After", String(renewalInfoRetryAfterSeconds));
    ctx.body = {
      suggestedWindow: {
        start: info.suggestedWindow.start.toISOString(),
        end: info.suggestedWindow.end.toISOString(),
      },
    };
  });

  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  return app;
}

function methodNotAllowed(ctx: Context, allow: string): void {
  ctx.set("Allow", allow);
  throw new AcmeProblem("malformed", `method not allowed; use ${allow}`, { status: 405 });
}
