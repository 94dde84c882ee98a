import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { loggerOptions } from "./logger.ts";

describe("logger", () => {
  it("redacts secrets wherever a careless call puts them", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = pino(loggerOptions({ level: "info" }), sink);
    log.info(
      {
        config: { keyEncryptionKey: "S3CRET-KEK", database: { url: "postgresql://u:S3CRET-PW@db/x" } },
        password: "S3CRET-1",
        request: { headers: { authorization: "Bearer S3CRET-TOKEN" } },
        passphrase: "S3CRET-2",
      },
      "starting",
    );
    const text = lines.join("");
    expect(text).not.toMatch(/S3CRET/);
    expect(text).toContain("[redacted]");
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, msg: "starting", service: "chancery" });
  });
});
