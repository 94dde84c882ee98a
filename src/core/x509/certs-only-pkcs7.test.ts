import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildCertsOnlyPkcs7 } from "./certs-only-pkcs7.ts";
import { createScratchDir, openssl } from "./testing/openssl.ts";

/** Two self-signed certificates and a CRL made by openssl: material independent of our builders. */
let certificates: Buffer[];
let crl: Buffer;

beforeAll(() => {
  const scratch = createScratchDir();
  const run = (args: string[]) => {
    const result = openssl(args);
    if (!result.ok) throw new Error(result.stderr);
  };
  try {
    certificates = ["first", "second"].map((cn) => {
      run(
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${cn}`].concat(
          ["-keyout", join(scratch.dir, `${cn}.key`), "-days", "1", "-out", join(scratch.dir, `${cn}.pem`)],
        ),
      );
      run(["x509", "-in", join(scratch.dir, `${cn}.pem`), "-outform", "DER", "-out", join(scratch.dir, `${cn}.der`)]);
      return readFileSync(join(scratch.dir, `${cn}.der`));
    });
    // A minimal CA database so `openssl ca -gencrl` signs a CRL with the first key.
    scratch.file("index.txt", "");
    const config = scratch.file(
      "ca.cnf",
      `[ca]\ndefault_ca=x\n[x]\ndatabase=${join(scratch.dir, "index.txt")}\ndefault_md=sha256\ndefault_crl_days=1\n`,
    );
    run(
      ["ca", "-gencrl", "-config", config, "-keyfile", join(scratch.dir, "first.key")].concat([
        "-cert",
        join(scratch.dir, "first.pem"),
        "-out",
        join(scratch.dir, "crl.pem"),
      ]),
    );
    run(["crl", "-in", join(scratch.dir, "crl.pem"), "-outform", "DER", "-out", join(scratch.dir, "crl.der")]);
    crl = readFileSync(join(scratch.dir, "crl.der"));
  } finally {
    scratch.cleanup();
  }
});

function subjects(der: Uint8Array): string[] {
  const result = openssl(["pkcs7", "-inform", "DER", "-print_certs"], der);
  if (!result.ok) throw new Error(result.stderr);
  return [...result.stdout.matchAll(/^subject=(.*)$/gm)].map((match) => match[1]!.replace(/\s/g, ""));
}

/** openssl's own DER encoding of what it parsed: byte-identical means we wrote what openssl would. */
function reencoded(der: Uint8Array): Buffer {
  const scratch = createScratchDir();
  try {
    const out = join(scratch.dir, "out.der");
    const result = openssl([
      "pkcs7",
      "-inform",
      "DER",
      "-in",
      scratch.file("in.der", der),
      "-outform",
      "DER",
      "-out",
      out,
    ]);
    if (!result.ok) throw new Error(result.stderr);
    return readFileSync(out);
  } finally {
    scratch.cleanup();
  }
}

describe("buildCertsOnlyPkcs7", () => {
  it("is read by openssl pkcs7 -print_certs, certificates in the given order", () => {
    expect(subjects(buildCertsOnlyPkcs7(certificates))).toEqual(["CN=first", "CN=second"]);
    expect(subjects(buildCertsOnlyPkcs7([...certificates].reverse()))).toEqual(["CN=second", "CN=first"]);
  });

  it("is the DER openssl itself writes, with and without CRLs", () => {
    for (const der of [buildCertsOnlyPkcs7(certificates), buildCertsOnlyPkcs7(certificates.slice(0, 1), [crl])])
      expect(reencoded(der)).toEqual(der);
    const printed = openssl(["pkcs7", "-inform", "DER", "-print"], buildCertsOnlyPkcs7([], [crl]));
    expect(printed.stdout).toMatch(/crl:\s*\n\s*crl:/);
  });

  it("builds an empty certs-only structure (RFC 5652 §5.1 version 1, no content, no signers)", () => {
    const der = buildCertsOnlyPkcs7([]);
    const expected = "3023 06092a864886f70d010702 a016 3014 020101 3100 300b 06092a864886f70d010701 3100";
    expect(der.toString("hex")).toBe(expected.replace(/\s/g, ""));
    expect(reencoded(der)).toEqual(der);
  });
});
