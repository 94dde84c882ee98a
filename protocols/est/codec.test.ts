import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { base64Lines, basicCredentials, buildMultipart, EstHttpError, mediaType, readCsrBody } from "./codec.ts";

function request(body: Buffer | string, headers: Record<string, string> = {}): IncomingMessage {
  const stream = Readable.from([Buffer.from(body)]) as unknown as IncomingMessage;
  stream.headers = headers;
  return stream;
}

describe("EST codec", () => {
  it("reads a base64 body as text and a binary one (or CTE binary) as DER", async () => {
    expect(await readCsrBody(request("MIIB\r\nAAAA\r\n"))).toBe("MIIB\r\nAAAA\r\n");
    const der = Buffer.from([0x30, 0x82, 0x01, 0x00]);
    expect(await readCsrBody(request(der))).toEqual(new Uint8Array(der));
    expect(await readCsrBody(request("0000", { "content-transfer-encoding": "Binary" }))).toBeInstanceOf(Uint8Array);
  });

  it("refuses an empty body (400) and an oversized one (413), declared or streamed", async () => {
    await expect(readCsrBody(request(""))).rejects.toMatchObject({ status: 400 });
    await expect(readCsrBody(request("A", { "content-length": "99999999" }))).rejects.toMatchObject({ status: 413 });
    await expect(readCsrBody(request("A".repeat(400_000)))).rejects.toBeInstanceOf(EstHttpError);
  });

  it("parses Basic credentials (RFC 7617), the password may hold colons", () => {
    const header = `Basic ${Buffer.from("device:pa:ss").toString("base64")}`;
    expect(basicCredentials(header)).toEqual({ username: "device", password: "pa:ss" });
    expect(basicCredentials(undefined)).toBeNull();
    expect(basicCredentials("Bearer x")).toBeNull();
    expect(() => basicCredentials(`Basic ${Buffer.from("nocolon").toString("base64")}`)).toThrow(EstHttpError);
  });

  it("writes base64 in 64-character LF lines and multipart parts with CRLF delimiters", () => {
    const text = base64Lines(Buffer.alloc(100, 1));
    expect(text.split("\n").every((line) => line.length <= 64)).toBe(true);
    expect(text).not.toContain("\r");
    const multipart = buildMultipart([
      { contentType: "application/pkcs8", der: Buffer.alloc(10, 2) },
      { contentType: "application/pkcs7-mime; smime-type=certs-only", der: Buffer.alloc(10, 3) },
    ]);
    const boundary = /boundary=(est-[0-9a-f]{24})$/.exec(multipart.contentType)![1]!;
    expect(multipart.body.startsWith(`--${boundary}\r\nContent-Type: application/pkcs8\r\n`)).toBe(true);
    expect(multipart.body.endsWith(`--${boundary}--\r\n`)).toBe(true);
    expect(multipart.body.match(/Content-Transfer-Encoding: base64/g)).toHaveLength(2);
    expect(mediaType(" Application/PKCS10 ; charset=x")).toBe("application/pkcs10");
  });
});
