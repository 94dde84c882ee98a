import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pemEncode } from "../pem.ts";

/**
 * Test-only helpers around the real openssl CLI: certificates and CSRs we
 * build are checked by a parser and verifier that share no code with ours.
 */
export const opensslPath = "/usr/bin/openssl";

export interface OpensslResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export function openssl(args: readonly string[], input?: Uint8Array | string): OpensslResult {
  const result = spawnSync(opensslPath, args, { input, maxBuffer: 16 * 1024 * 1024 });
  return { ok: result.status === 0, stdout: result.stdout.toString("utf8"), stderr: result.stderr.toString("utf8") };
}

/** A temporary directory for one test, removed by the returned cleanup. */
export function createScratchDir(): {
  dir: string;
  file(name: string, content: string | Uint8Array): string;
  cleanup(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), "chancery-x509-"));
  return {
    dir,
    file(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function certificatePem(der: Uint8Array): string {
  return pemEncode("CERTIFICATE", der);
}

/** `openssl verify -x509_strict` of a leaf against a root and optional intermediates. */
export function verifyChain(
  rootDer: Uint8Array,
  intermediatesDer: readonly Uint8Array[],
  leafDer: Uint8Array,
  extraArgs: readonly string[] = [],
): OpensslResult {
  const scratch = createScratchDir();
  try {
    const root = scratch.file("root.pem", certificatePem(rootDer));
    const leaf = scratch.file("leaf.pem", certificatePem(leafDer));
    const args = ["verify", "-x509_strict", ...extraArgs, "-CAfile", root];
    if (intermediatesDer.length > 0)
      args.push("-untrusted", scratch.file("untrusted.pem", intermediatesDer.map(certificatePem).join("")));
    args.push(leaf);
    return openssl(args);
  } finally {
    scratch.cleanup();
  }
}

/** `openssl x509 -text -noout` of a DER certificate. */
export function certificateText(der: Uint8Array): string {
  const result = openssl(["x509", "-inform", "DER", "-text", "-noout"], der);
  if (!result.ok) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

/** `openssl asn1parse` of DER; throws when openssl cannot parse it. */
export function asn1parse(der: Uint8Array, extraArgs: readonly string[] = []): string {
  const result = openssl(["asn1parse", "-inform", "DER", ...extraArgs], der);
  if (!result.ok) throw new Error(`openssl asn1parse failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * A DER PKCS#10 request made by `openssl req` with a fresh P-256 key: the
 * CSR a real client sends. `sans` is an openssl subjectAltName value
 * ("DNS:a.example,IP:10.0.0.1"); `extra` adds arguments, e.g. more -addext.
 */
export function opensslCsr(options: { subject: string; sans?: string; extra?: readonly string[] }): Buffer {
  const scratch = createScratchDir();
  try {
    const out = join(scratch.dir, "csr.der");
    const result = openssl([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(scratch.dir, "key.pem"),
      "-subj",
      options.subject,
      ...(options.sans ? ["-addext", `subjectAltName=${options.sans}`] : []),
      ...(options.extra ?? []),
      "-outform",
      "DER",
      "-out",
      out,
    ]);
    if (!result.ok) throw new Error(`openssl req failed: ${result.stderr}`);
    return readFileSync(out);
  } finally {
    scratch.cleanup();
  }
}
