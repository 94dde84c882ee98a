import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { decodeMessageParameter, operationOf, readPkiMessageBody, readQuery, ScepHttpError } from "./codec.ts";
import { scepErrors } from "./errors.ts";
import { type ScepAppDeps, scepContentTypes } from "./types.ts";

/**
 * The SCEP listener (RFC 8894 §4), plain HTTP: SCEP protects its messages
 * with CMS, and devices often cannot do TLS with a private CA before they
 * have a certificate from it.
 *
 *   GET  /scep/<endpoint>[/pkiclient.exe]?operation=GetCACaps|GetCACert|GetNextCACert|PKIOperation&message=...
 *   POST /scep/<endpoint>[/pkiclient.exe]?operation=PKIOperation   (binary pkiMessage)
 *
 * Clients append "/pkiclient.exe" to the URL they are given (the old Cisco
 * CGI name): both paths are the same endpoint.
 */
export function createScepApp(deps: ScepAppDeps): Koa {
  const app = new Koa();
  // Behind a proxy the device address comes from X-Forwarded-For (audit and logs only).
  app.proxy = true;
  const router = new Router();

  const handle = async (ctx: Context) => {
    const name = ctx.params["endpoint"] ?? "";
    const query = readQuery(ctx.querystring);
    const operation = operationOf(query);
    if (ctx.method === "POST" && operation !== "PKIOperation")
      throw new ScepHttpError(405, `${operation} is a GET operation (RFC 8894 §4.1)`);
    switch (operation) {
      case "GetCACaps":
        ctx.type = scepContentTypes.caps;
        ctx.body = `${(await deps.scep.capabilities(name)).join("\n")}\n`;
        return;
      case "GetCACert": {
        const answer = await deps.scep.caCertificates(name);
        ctx.type =
          answer.kind === "ca-certificate" ? scepContentTypes.caCertificate : scepContentTypes.caRaCertificates;
        ctx.body = answer.der;
        return;
      }
      case "GetNextCACert":
        ctx.type = scepContentTypes.nextCaCertificates;
        ctx.body = await deps.scep.nextCaCertificates(name);
        return;
      case "PKIOperation": {
        const message =
          ctx.method === "POST" ? await readPkiMessageBody(ctx.req) : decodeMessageParameter(query.get("message"));
        const reply = await deps.scep.pkiOperation(name, message, ctx.ip || undefined);
        ctx.type = scepContentTypes.pkiMessage;
        ctx.body = reply;
        return;
      }
    }
  };

  for (const path of ["/scep/:endpoint", "/scep/:endpoint/pkiclient.exe"]) {
    router.get(path, handle);
    router.post(path, handle);
  }
  app.use(scepErrors(deps.logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
