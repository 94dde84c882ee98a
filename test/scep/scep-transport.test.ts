import { type KeyObject, randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pkiStatuses } from "../../src/core/scep/scep-types.ts";
import { pkcsReq, readCertRep, type ScepTestRequest } from "../../src/core/scep/testing/scep-test-client.ts";
import {
  device,
  type HttpAnswer,
  rsaKeys,
  type ScepTestEnv,
  startScepTestEnv,
  staticChallenge,
} from "./scep-test-env.ts";

/**
 * How a PKIOperation reaches the server (RFC 8894 §4.3): GET with the
 * message in the query, in every base64 spelling real clients produce, and
 * POST; and the HTTP answers for what is not a pkiMessage at all (400, 413,
 * plain text, never a 500).
 */
let t: ScepTestEnv;
let ra: Buffer;
let key: KeyObject;

beforeAll(async () => {
  t = await startScepTestEnv();
  key = rsaKeys(1)[0]!;
  await t.endpoint("transport");
  ra = await t.raCertificate("transport");
});
afterAll(async () => {
  await t?.stop();
});

/** A fresh PKCSReq (new nonce and transactionID) whose base64 passes `accept`. */
function request(accept: (base64: string) => boolean = () => true): ScepTestRequest {
  for (let attempt = 0; attempt < 200; attempt++) {
    // The common name's length varies the message's length, so every base64 shape (padding, "+", "/") turns up.
    const made = device(key, { cn: `transport-device${"-".repeat(attempt % 7)}`, challenge: staticChallenge });
    const built = pkcsReq(made.csr, { raCertificateDer: ra, signer: made.signer, transactionId: randomUUID() });
    if (accept(built.der.toString("base64"))) return built;
  }
  throw new Error("no request with the wanted base64 shape");
}

const get = (query: string) => t.http(`/scep/transport/pkiclient.exe?operation=PKIOperation&message=${query}`);
const post = (body: RequestInit["body"]) => t.http("/scep/transport?operation=PKIOperation", { method: "POST", body });

function expectIssued(answer: HttpAnswer, sent: ScepTestRequest): void {
  expect(answer.status, answer.text).toBe(200);
  expect(answer.contentType).toBe("application/x-pki-message");
  const reply = readCertRep(answer.body, { request: sent, raCertificateDer: ra });
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  expect(reply.certificatesDer).toHaveLength(1);
}

function expectPlainText(answer: HttpAnswer, status: number): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.contentType).toMatch(/^text\/plain/);
  expect(answer.text.length).toBeGreaterThan(1);
}

const hasPlusAndSlash = (b64: string) => b64.includes("+") && b64.includes("/");

describe("PKIOperation over GET", () => {
  it("decodes standard base64, percent-encoded", async () => {
    const sent = request(hasPlusAndSlash);
    expectIssued(await get(encodeURIComponent(sent.der.toString("base64"))), sent);
  });

  it("decodes URL-safe base64 (- and _)", async () => {
    const sent = request(hasPlusAndSlash);
    expectIssued(await get(sent.der.toString("base64url")), sent);
  });

  it("decodes base64 without its = padding", async () => {
    const sent = request((b64) => b64.endsWith("="));
    expectIssued(await get(encodeURIComponent(sent.der.toString("base64").replace(/=+$/, ""))), sent);
  });

  it('decodes raw, unescaped "+" and "/" in the query (macOS, Cisco IOS)', async () => {
    const sent = request((b64) => hasPlusAndSlash(b64) && b64.endsWith("="));
    const raw = sent.der.toString("base64");
    // By hand: the URL carries the base64 exactly, "+", "/" and "=" unescaped.
    const answer = await get(raw);
    expectIssued(answer, sent);
  });

  it('turns back a "+" that a proxy turned into a space', async () => {
    const sent = request(hasPlusAndSlash);
    expectIssued(await get(sent.der.toString("base64").replace(/\+/g, "%20")), sent);
  });

  it("is 400 without a message parameter", async () => {
    expectPlainText(await t.http("/scep/transport?operation=PKIOperation"), 400);
    expectPlainText(await get(""), 400);
  });

  it("refuses a query longer than Node's request-line limit with 431, not a 500", async () => {
    // Node's HTTP parser (16 KiB of headers) answers before the app; real GET messages are 3-8 KiB.
    expect((await get("A".repeat(400 * 1024))).status).toBe(431);
  });
});

describe("PKIOperation over POST", () => {
  it("accepts the binary pkiMessage", async () => {
    const sent = request();
    expectIssued(await post(sent.der), sent);
  });

  it("accepts a base64 body, as some old clients post it", async () => {
    const sent = request();
    expectIssued(await post(sent.der.toString("base64")), sent);
  });

  it("is 400 for an empty body", async () => {
    expectPlainText(await post(new Uint8Array(0)), 400);
  });

  it("is 413 for an oversized body, declared or streamed", async () => {
    const big = Buffer.alloc(300 * 1024, 0x41);
    big[0] = 0x30;
    expectPlainText(await post(big), 413);
    expectPlainText(await post(Buffer.alloc(600 * 1024, 0x30)), 413);
  });
});

describe("garbage", () => {
  it("is 400 plain text: random DER-looking bytes, random base64, text, a truncated message", async () => {
    const random = randomBytes(2048);
    random[0] = 0x30;
    expectPlainText(await post(random), 400);
    expectPlainText(await get(encodeURIComponent(randomBytes(900).toString("base64"))), 400);
    expectPlainText(await post("this is not a pkiMessage!"), 400);
    expectPlainText(await get("%%%"), 400);
    expectPlainText(await post(request().der.subarray(0, 700)), 400);
  });

  it("a real message with any one octet damaged is answered with a CertRep or a 400, never a 500", async () => {
    const sent = request();
    const statuses = new Set<number>();
    const positions = Array.from({ length: 48 }, (_, i) => Math.floor((i * sent.der.length) / 48));
    for (const position of positions) {
      const damaged = Buffer.from(sent.der);
      damaged[position]! ^= 0x5a;
      const answer = await post(damaged);
      expect([200, 400], `octet ${position}: ${answer.status} ${answer.text}`).toContain(answer.status);
      // An identifiable message is answered inside the protocol: a CertRep signed by the RA. (Octets no
      // check covers, e.g. the self-signed certificate's own signature, may still enrol; later ones replay.)
      if (answer.status === 200) readCertRep(answer.body, { raCertificateDer: ra, privateKey: key });
      statuses.add(answer.status);
    }
    expect([...statuses].sort()).toEqual([200, 400]);
  });
});
