/**
 * The practical limit for `npm run bench:ocsp`: a bare node:http server in
 * its own process answering every GET and POST with the same bytes and the
 * same response headers the gateway sent for the benchmark's request. It
 * reads a POST body to its end (as the gateway must) and does nothing else:
 * no parsing, no lookup, no routing.
 *
 * With framework "koa" the same answer goes through a one-middleware Koa
 * app instead (context, header setters, Koa's respond()): the ceiling of any
 * Koa-served responder on this machine, which the gateway's listener is.
 */
import http from "node:http";
import Koa from "koa";

export interface BareJob {
  readonly body: string; // base64
  readonly headers: Readonly<Record<string, string>>;
  readonly framework: "node:http" | "koa";
}

function koaHandler(body: Buffer, headers: Readonly<Record<string, string>>): http.RequestListener {
  const app = new Koa();
  app.use(async (ctx) => {
    if (ctx.method === "POST") for await (const _ of ctx.req);
    ctx.status = 200;
    ctx.set(headers);
    ctx.body = body;
  });
  return app.callback();
}

process.once("message", (message) => {
  const job = message as BareJob;
  const body = Buffer.from(job.body, "base64");
  const headers = { ...job.headers, "content-length": String(body.length) };
  const bare: http.RequestListener = (req, res) => {
    const answer = () => {
      res.writeHead(200, headers);
      res.end(body);
    };
    if (req.method === "POST") {
      req.on("data", () => {});
      req.on("end", answer);
    } else answer();
  };
  const server = http.createServer(job.framework === "koa" ? koaHandler(body, job.headers) : bare);
  server.keepAliveTimeout = 30_000;
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.send!({ port: typeof address === "object" && address ? address.port : 0, pid: process.pid });
  });
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m) => {
    if (m === "stop") process.exit(0);
  });
});
