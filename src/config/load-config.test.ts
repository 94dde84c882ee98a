import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./load-config.ts";

function file(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "chancery-config-"));
  const p = path.join(dir, "chancery.yaml");
  writeFileSync(p, text);
  return p;
}

describe("loadConfig", () => {
  it("gives documented defaults with no file and no environment", () => {
    const config = loadConfig({ env: {} });
    expect(config.dataDir).toBe("./data");
    expect(config.publicBaseUrl).toBe("http://localhost:8081");
    expect(config.listen).toEqual({
      acme: "0.0.0.0:8443",
      scep: "0.0.0.0:8080",
      est: "0.0.0.0:8444",
      ocsp: "0.0.0.0:8081",
      admin: "0.0.0.0:9443",
      metrics: "0.0.0.0:9090",
    });
    expect(config.database.url).toBeUndefined();
    expect(config.tls.names).toEqual(["localhost", "127.0.0.1", "::1"]);
  });

  it("reads a YAML file and lets CHANCERY_* variables override it", () => {
    const p = file(
      "dataDir: /srv/chancery\nlisten:\n  acme: 127.0.0.1:14000\npublicBaseUrl: http://pki.example.com/\n",
    );
    const config = loadConfig({
      file: p,
      env: {
        CHANCERY_LISTEN_ACME: "[::1]:15000",
        DATABASE_URL: "postgresql://u:p@db/chancery",
        CHANCERY_TLS_NAMES: "a.example, b.example",
      },
    });
    expect(config.dataDir).toBe("/srv/chancery");
    expect(config.listen.acme).toBe("[::1]:15000");
    expect(config.listen.scep).toBe("0.0.0.0:8080");
    expect(config.publicBaseUrl).toBe("http://pki.example.com");
    expect(config.database.url).toBe("postgresql://u:p@db/chancery");
    expect(config.tls.names).toEqual(["a.example", "b.example"]);
  });

  it("names the bad key and the variable it came from", () => {
    expect(() => loadConfig({ env: { CHANCERY_LISTEN_EST: "8444" } })).toThrow(
      /listen\.est \(from CHANCERY_LISTEN_EST\): must be "host:port"/,
    );
    expect(() => loadConfig({ env: { CHANCERY_PUBLIC_BASE_URL: "ftp://x" } })).toThrow(/publicBaseUrl.*http/);
    expect(() => loadConfig({ env: { CHANCERY_PUBLIC_BASE_URL: "https://pki.example" } })).toThrow(/plain http/);
    expect(() => loadConfig({ env: { CHANCERY_DATABASE_MAX_CONNECTIONS: "many" } })).toThrow(
      /CHANCERY_DATABASE_MAX_CONNECTIONS: "many" is not a number/,
    );
    expect(() => loadConfig({ env: { CHANCERY_LOG_PRETTY: "perhaps" } })).toThrow(/not a boolean/);
  });

  it("refuses unknown keys, naming them and the file", () => {
    const p = file("listen:\n  acme: 0.0.0.0:1\n  acmee: 0.0.0.0:2\nlistn: {}\n");
    let error: unknown;
    try {
      loadConfig({ file: p, env: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toContain('listen: unknown key "acmee"');
    expect(String(error)).toContain('unknown key "listn"');
    expect(String(error)).toContain(p);
  });

  it("refuses half a TLS pair and both KEK sources at once", () => {
    expect(() => loadConfig({ env: { CHANCERY_TLS_CERTIFICATE_FILE: "/x.pem" } })).toThrow(/given together/);
    expect(() =>
      loadConfig({ env: { CHANCERY_KEY_ENCRYPTION_KEY: "x", CHANCERY_KEY_ENCRYPTION_KEY_FILE: "/k" } }),
    ).toThrow(/not both/);
  });

  it("reports unreadable and malformed files clearly", () => {
    expect(() => loadConfig({ file: "/nonexistent/chancery.yaml", env: {} })).toThrow(/cannot read config file/);
    expect(() => loadConfig({ file: file("listen: [unclosed"), env: {} })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ file: file("- a\n- b\n"), env: {} })).toThrow(/mapping/);
  });

  it("reads OCSP and CRL durations from the file and the environment, in seconds, with safe bounds", () => {
    expect(loadConfig({ env: {} })).toMatchObject({
      ocsp: {
        responseValidity: 86_400,
        cacheEntries: 50_000,
        maxCacheAge: 60,
        responderLifetime: 7 * 86_400,
        presignInterval: 60,
        presignBatchSize: 2000,
      },
      crl: { validity: 86_400, interval: 60 },
    });
    const config = loadConfig({
      file: file("ocsp:\n  responseValidity: 12h\n  maxCacheAge: 30\n  presignBatchSize: 500\ncrl:\n  validity: 2d\n"),
      env: {
        CHANCERY_OCSP_CACHE_ENTRIES: "1000",
        CHANCERY_OCSP_PRESIGN_INTERVAL: "2m",
        CHANCERY_OCSP_RESPONDER_LIFETIME: "14d",
        CHANCERY_CRL_INTERVAL: "5m",
      },
    });
    expect(config.ocsp).toEqual({
      responseValidity: 43_200,
      cacheEntries: 1000,
      maxCacheAge: 30,
      responderLifetime: 14 * 86_400,
      presignInterval: 120,
      presignBatchSize: 500,
    });
    expect(config.crl).toEqual({ validity: 2 * 86_400, interval: 300 });
    expect(() => loadConfig({ env: { CHANCERY_CRL_VALIDITY: "1 year" } })).toThrow(
      /crl\.validity \(from CHANCERY_CRL_VALIDITY\): must be a duration/,
    );
    expect(() => loadConfig({ env: { CHANCERY_OCSP_RESPONDER_LIFETIME: "60d" } })).toThrow(/between 1h and 30d/);
    // A response must not outlive the responder's renewal margin (a third of its lifetime).
    expect(() => loadConfig({ env: { CHANCERY_OCSP_RESPONSE_VALIDITY: "3d" } })).toThrow(
      /ocsp\.responseValidity .*third of responderLifetime/,
    );
  });
});
