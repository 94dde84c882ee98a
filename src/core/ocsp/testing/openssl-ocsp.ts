import { readFileSync } from "node:fs";
import { join } from "node:path";
import { certificatePem, createScratchDir, type OpensslResult, openssl } from "../../x509/testing/openssl.ts";

/**
 * Test-only: `openssl ocsp` as the client. Requests come from `-reqout`
 * (what a real client sends); responses are read with `-respin`, which
 * verifies the signature, the responder's delegation and the nonce with
 * code that shares nothing with ours.
 */

export interface OpensslRequestOptions {
  readonly issuerDer: Uint8Array;
  /** Certificates to ask about (-cert), DER. */
  readonly certsDer?: readonly Uint8Array[];
  /** Serial numbers to ask about (-serial), e.g. "0x1234". */
  readonly serials?: readonly string[];
  /** CertID hash: openssl's default is SHA-1. */
  readonly sha256?: boolean;
  /** Default true: openssl adds a 16-octet nonce unless -no_nonce. */
  readonly nonce?: boolean;
}

/** A DER OCSPRequest written by `openssl ocsp -reqout`. */
export function opensslOcspRequest(options: OpensslRequestOptions): Buffer {
  const scratch = createScratchDir();
  try {
    const args = ["ocsp", "-issuer", scratch.file("issuer.pem", certificatePem(options.issuerDer))];
    // openssl: "Digest must be before -cert or -serial".
    if (options.sha256) args.push("-sha256");
    (options.certsDer ?? []).forEach((der, i) => {
      args.push("-cert", scratch.file(`cert${i}.pem`, certificatePem(der)));
    });
    for (const serial of options.serials ?? []) args.push("-serial", serial);
    args.push(options.nonce === false ? "-no_nonce" : "-nonce");
    const out = join(scratch.dir, "req.der");
    args.push("-reqout", out);
    const result = openssl(args);
    if (!result.ok) throw new Error(`openssl ocsp -reqout failed: ${result.stderr}`);
    return readFileSync(out);
  } finally {
    scratch.cleanup();
  }
}

export interface OpensslVerifyOptions {
  readonly responseDer: Uint8Array;
  /** Trust anchors and intermediates for the responder certificate's chain (-CAfile). */
  readonly trustedDer: readonly Uint8Array[];
  /** The request to check the nonce against (-reqin). */
  readonly requestDer?: Uint8Array;
  /**
   * For a per-certificate summary ("<file>: good"): the issuer (-issuer) and
   * certificates (-cert) openssl then looks up in the response by CertID.
   * openssl builds its own request from them (no nonce), so -reqin is not used then.
   */
  readonly issuerDer?: Uint8Array;
  readonly certsDer?: readonly Uint8Array[];
  readonly sha256?: boolean;
  readonly extraArgs?: readonly string[];
}

/** `openssl ocsp -respin ... -resp_text` with verification on: the output says what openssl made of it. */
export function opensslReadResponse(options: OpensslVerifyOptions): OpensslResult {
  const scratch = createScratchDir();
  try {
    const args = [
      "ocsp",
      "-respin",
      scratch.file("resp.der", options.responseDer),
      "-resp_text",
      "-CAfile",
      scratch.file("trusted.pem", options.trustedDer.map(certificatePem).join("")),
    ];
    if (options.requestDer) args.push("-reqin", scratch.file("req.der", options.requestDer));
    if (options.issuerDer) {
      if (options.sha256) args.push("-sha256");
      args.push("-issuer", scratch.file("issuer.pem", certificatePem(options.issuerDer)));
      (options.certsDer ?? []).forEach((der, i) => {
        args.push("-cert", scratch.file(`cert${i}.pem`, certificatePem(der)));
      });
      args.push("-no_nonce");
    }
    args.push(...(options.extraArgs ?? []));
    return openssl(args);
  } finally {
    scratch.cleanup();
  }
}
