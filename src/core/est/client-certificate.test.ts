import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDir, openssl } from "../x509/testing/openssl.ts";
import { verifyClientChain } from "./client-certificate.ts";

/** A root, an intermediate and leaves made by the openssl CLI: our verifier and OpenSSL share no code. */
describe("verifyClientChain (RFC 7030 §3.3.2)", () => {
  const scratch = createScratchDir();
  const der = (name: string) => new X509Certificate(readFileSync(`${scratch.dir}/${name}.crt`)).raw;
  let root: X509Certificate;
  let intermediate: X509Certificate;
  let other: X509Certificate;
  // Set once the certificates exist: openssl stamps notBefore when it signs, which on a loaded machine is
  // seconds after this file was collected (a "now" taken then made them not yet valid).
  let now: Date;

  function run(args: string[]): void {
    const result = openssl(args);
    if (!result.ok) throw new Error(result.stderr);
  }

  function ca(name: string, issuer: string | null): void {
    const key = `${scratch.dir}/${name}.key`;
    const ext = scratch.file(
      `${name}.ext`,
      "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    if (issuer === null) {
      run([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        `${scratch.dir}/${name}.crt`,
        "-subj",
        `/CN=${name}`,
        "-days",
        "10",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
      ]);
      return;
    }
    leaf(name, issuer, ext);
  }

  function leaf(name: string, issuer: string, extFile?: string, days = "5", eku = "clientAuth"): void {
    const key = `${scratch.dir}/${name}.key`;
    const csr = `${scratch.dir}/${name}.csr`;
    run([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      `/CN=${name}`,
    ]);
    const ext = extFile ?? scratch.file(`${name}.ext`, `basicConstraints=CA:FALSE\nextendedKeyUsage=${eku}\n`);
    run([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      `${scratch.dir}/${issuer}.crt`,
      "-CAkey",
      `${scratch.dir}/${issuer}.key`,
      "-CAcreateserial",
      "-out",
      `${scratch.dir}/${name}.crt`,
      "-days",
      days,
      "-extfile",
      ext,
    ]);
  }

  beforeAll(() => {
    ca("root", null);
    ca("intermediate", "root");
    ca("other", null);
    leaf("device", "intermediate");
    leaf("server-only", "intermediate", undefined, "5", "serverAuth");
    leaf("direct", "root");
    root = new X509Certificate(der("root"));
    intermediate = new X509Certificate(der("intermediate"));
    other = new X509Certificate(der("other"));
    now = new Date();
  });
  afterAll(() => scratch.cleanup());

  it("accepts a leaf with its intermediate sent along, chaining to the root anchor", () => {
    const result = verifyClientChain({ presentedDer: [der("device"), der("intermediate")], anchors: [root], now });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.anchor.subject).toBe("CN=root");
  });

  it("accepts an intermediate as the anchor itself", () => {
    expect(verifyClientChain({ presentedDer: [der("device")], anchors: [intermediate], now }).ok).toBe(true);
    expect(verifyClientChain({ presentedDer: [der("direct")], anchors: [other, root], now }).ok).toBe(true);
  });

  it("refuses a missing intermediate, another anchor, a wrong EKU and an expired leaf", () => {
    const cases: Array<[Parameters<typeof verifyClientChain>[0], RegExp]> = [
      [{ presentedDer: [der("device")], anchors: [root], now }, /does not chain/],
      [{ presentedDer: [der("device"), der("intermediate")], anchors: [other], now }, /does not chain/],
      [{ presentedDer: [der("server-only"), der("intermediate")], anchors: [root], now }, /extended key usage/],
      [
        {
          presentedDer: [der("device"), der("intermediate")],
          anchors: [root],
          now: new Date(now.getTime() + 30 * 86_400_000),
        },
        /expired/,
      ],
      [{ presentedDer: [], anchors: [root], now }, /no client certificate/],
      [{ presentedDer: [Buffer.from("junk")], anchors: [root], now }, /cannot be read/],
    ];
    for (const [input, reason] of cases) {
      const result = verifyClientChain(input);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    }
  });

  it("does not take a leaf as an intermediate (cA FALSE cannot issue)", () => {
    // "direct" is signed by root, but a chain through a non-CA certificate must not be built.
    const result = verifyClientChain({ presentedDer: [der("device"), der("direct")], anchors: [root], now });
    expect(result.ok).toBe(false);
  });
});
