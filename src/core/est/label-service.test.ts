import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { refusal } from "../../../test/support/refusal.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { createEnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-service.ts";
import { scepSecretScope } from "../scep/scep-secret-scope.ts";
import { pemDecode, pemEncode } from "../x509/pem.ts";
import { createScratchDir, openssl } from "../x509/testing/openssl.ts";
import { estSecretScope } from "./est-secret-scope.ts";
import type { EstLabelService } from "./est-types.ts";
import { createEstLabelService } from "./label-service.ts";

const admin: Actor = { actor: "user:est-admin", sourceIp: "192.0.2.9" };
const scratch = createScratchDir();
let made = 0;

/** A certificate from the openssl CLI: a self-signed CA, or a leaf (cA FALSE) issued by `issuer`. */
function opensslSelfSigned(
  ca: boolean,
  issuer?: { key: string; cert: string },
): { der: Buffer; key: string; cert: string } {
  const n = made++;
  const key = `${scratch.dir}/${n}.key`;
  const cert = `${scratch.dir}/${n}.crt`;
  const run = (args: string[]) => {
    const result = openssl(args);
    if (!result.ok) throw new Error(result.stderr);
  };
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key];
  if (!issuer) {
    run([
      "req",
      "-x509",
      ...newKey,
      "-out",
      cert,
      "-subj",
      `/CN=anchor ${n}`,
      "-days",
      "1",
      "-addext",
      `basicConstraints=critical,CA:${ca ? "TRUE" : "FALSE"}`,
    ]);
  } else {
    run(["req", "-new", ...newKey, "-out", `${cert}.csr`, "-subj", `/CN=leaf ${n}`]);
    const ext = scratch.file(`${n}.ext`, "basicConstraints=CA:FALSE\n");
    run([
      "x509",
      "-req",
      "-in",
      `${cert}.csr`,
      "-CA",
      issuer.cert,
      "-CAkey",
      issuer.key,
      "-CAcreateserial",
      "-out",
      cert,
      "-days",
      "1",
      "-extfile",
      ext,
    ]);
  }
  return { der: Buffer.from(pemDecode(readFileSync(cert, "utf8"), ["CERTIFICATE"])), key, cert };
}

describe("EST labels and enrollment secrets (core)", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let labels: EstLabelService;

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 6 }));
    labels = createEstLabelService({ pool: db.pool, audit: core.audit, clock: { now: () => new Date() } });
  });
  afterAll(async () => {
    await stopTestCore(db, core);
    scratch.cleanup();
  });

  it("makes the default label once, on the issuing CA, and never a second one", async () => {
    const made = await labels.ensureDefaultLabel({ caId: issuing.id });
    expect(made).toMatchObject({ name: "default", isDefault: true, authMode: "either", clientCaIds: [issuing.id] });
    expect(await labels.ensureDefaultLabel({ caId: issuing.id })).toBeNull();
    const events = await core.audit.find(
      { target: `est-label:${made!.id}` },
      { order: "oldest", cursor: undefined, limit: 5 },
    );
    expect(events.map((e) => [e.actor, e.action])).toEqual([["bootstrap", "est.label.create"]]);
  });

  it("moves the default mark, in one transaction with its audit event", async () => {
    const other = await labels.create(
      { name: "other", caId: issuing.id, profileName: "device", authMode: "basic", isDefault: true },
      admin,
    );
    expect((await labels.getDefault()).id).toBe(other.id);
    expect((await labels.getByName("default")).isDefault).toBe(false);
    const events = await core.audit.find(
      { target: `est-label:${other.id}` },
      { order: "oldest", cursor: undefined, limit: 5 },
    );
    expect(events[0]!.details["previousDefault"]).toBe("default");
    // A name taken: nothing changes, the mark stays where it was.
    const taken = await refusal(
      labels.create(
        { name: "other", caId: issuing.id, profileName: "device", authMode: "basic", isDefault: true },
        admin,
      ),
    );
    expect(taken.code).toBe("already_exists");
    expect((await labels.getDefault()).id).toBe(other.id);
  });

  it("checks anchors: PEM or DER CA certificates only, and one for certificate modes", async () => {
    const ca = opensslSelfSigned(true);
    const leaf = opensslSelfSigned(false, ca);
    const withAnchor = await labels.create(
      {
        name: "idevid",
        caId: issuing.id,
        profileName: "device",
        authMode: "certificate",
        externalAnchorsDer: [Buffer.from(pemEncode("CERTIFICATE", ca.der)), ca.der],
      },
      admin,
    );
    // The same anchor twice is kept once.
    expect(withAnchor.externalAnchorsDer).toHaveLength(1);
    const notCa = await refusal(
      labels.create(
        {
          name: "leaf-anchor",
          caId: issuing.id,
          profileName: "device",
          authMode: "certificate",
          externalAnchorsDer: [leaf.der],
        },
        admin,
      ),
    );
    expect(notCa.message).toMatch(/not a CA certificate/);
    const junk = await refusal(
      labels.create(
        {
          name: "junk-anchor",
          caId: issuing.id,
          profileName: "device",
          authMode: "either",
          externalAnchorsDer: [Buffer.from("junk")],
        },
        admin,
      ),
    );
    expect(junk.code).toBe("invalid_argument");
    const none = await refusal(
      labels.create({ name: "no-anchor", caId: issuing.id, profileName: "device", authMode: "both" }, admin),
    );
    expect(none.message).toMatch(/trust anchor/);
  });

  it("takes one-time secrets only where Basic is accepted; deleting a label takes its secrets with it", async () => {
    const secrets = createEnrollmentSecretService({
      pool: db.pool,
      audit: core.audit,
      clock: { now: () => new Date() },
      scopes: { scep_endpoint: scepSecretScope, est_label: estSecretScope },
    });
    const idevid = await labels.getByName("idevid");
    expect((await refusal(secrets.mint({ scope: { kind: "est_label", id: idevid.id } }, admin))).code).toBe(
      "failed_precondition",
    );
    const label = await labels.create(
      { name: "secret-holder", caId: issuing.id, profileName: "device", authMode: "either", clientCaIds: [issuing.id] },
      admin,
    );
    const { record } = await secrets.mint({ scope: { kind: "est_label", id: label.id } }, admin);
    await labels.delete(label.id, admin);
    expect((await refusal(secrets.get(record.id))).code).toBe("not_found");
    const [deleted] = await core.audit.find(
      { target: `est-label:${label.id}`, action: "est.label.delete" },
      { order: "oldest", cursor: undefined, limit: 1 },
    );
    expect(deleted?.details).toMatchObject({ deletedSecrets: 1 });
  });
});
