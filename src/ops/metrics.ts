import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The process's metrics registry and the gateway-wide series; built once in main.ts. */
export function createMetrics() {
  const registry = new Registry();
  // The event-loop lag histogram samples with a timer; prom-client's default of every 10 ms woke an idle
  // gateway ~200 times a second (12 ms of CPU per second, doing nothing). Ten samples a second still catch
  // every stall worth alerting on, and each one is measured to the nanosecond.
  collectDefaultMetrics({ register: registry, prefix: "chancery_", eventLoopMonitoringPrecision: 100 });
  return {
    registry,
    certificatesIssued: new Counter({
      name: "chancery_certificates_issued_total",
      help: "Certificates issued and durably stored, by CA, profile and protocol",
      labelNames: ["ca", "profile", "protocol"] as const,
      registers: [registry],
    }),
    issuanceFailures: new Counter({
      name: "chancery_issuance_failures_total",
      help: "Issuance requests refused or failed, by error code",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    issuanceSeconds: new Histogram({
      name: "chancery_issuance_duration_seconds",
      help: "Time from request to durable commit of an issued certificate",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    commitBatchSize: new Histogram({
      name: "chancery_issuance_commit_batch_size",
      help: "Certificates committed together (group commit), by how: one_statement, or locked (a transaction holding the audit head lock; many of these mean replicas contend for the head)",
      labelNames: ["path"] as const,
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500],
      registers: [registry],
    }),
    certificatesRevoked: new Counter({
      name: "chancery_certificates_revoked_total",
      help: "Certificates revoked, by RFC 5280 reason",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    ocspResponses: new Counter({
      name: "chancery_ocsp_responses_total",
      help:
        "OCSP answers by outcome (good, revoked, unknown, unauthorized, malformed, error) and source " +
        "(cache: from memory; stored: signed earlier, read from Postgres; revalidated: status re-read, signed bytes kept; " +
        "signed: pre-signed anew; " +
        "nonce: signed for one request; none: unsigned error)",
      labelNames: ["outcome", "source"] as const,
      registers: [registry],
    }),
    scepMessages: new Counter({
      name: "chancery_scep_messages_total",
      help:
        "SCEP PKIOperation messages answered with a CertRep, by endpoint, message type (PKCSReq, RenewalReq, " +
        "CertPoll, GetCert, GetCRL), pkiStatus (SUCCESS, FAILURE, PENDING) and the failInfo of a FAILURE",
      labelNames: ["endpoint", "message_type", "pki_status", "fail_info"] as const,
      registers: [registry],
    }),
    crlGenerations: new Counter({
      name: "chancery_crl_generations_total",
      help: "CRLs built and stored by this replica, by CA",
      labelNames: ["ca"] as const,
      registers: [registry],
    }),
    crlNumber: new Gauge({
      name: "chancery_crl_number",
      help: "Newest CRL number this replica has seen, by CA",
      labelNames: ["ca"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
