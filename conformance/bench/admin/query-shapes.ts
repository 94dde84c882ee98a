import { type Certificate, Certificate_State } from "../../../src/gen/chancery/admin/v1/certificate_pb.js";
import { dayMs, type FilledStore } from "./fill-store.ts";

/** The filled store as the client process needs it: plain data, sent over IPC. */
export interface ShapeContext {
  readonly caName: string;
  readonly user: string;
  /** not_after upper bound for shape d, epoch ms. */
  readonly cutoff: number;
  /** A SAN prefix that exactly one certificate has. */
  readonly rareSan: string;
}

export function shapeContext(filled: FilledStore): ShapeContext {
  return {
    caName: `certificateAuthorities/${filled.caIds[1]}`,
    user: filled.users[3]!,
    cutoff: filled.start + 120 * dayMs,
    // One tls-server certificate (index % 4 == 2) issued about 60% of the way back from the newest.
    rareSan: `host${Math.floor((filled.certificates * 0.41) / 4) * 4 + 2}.team`,
  };
}

export interface Shape {
  readonly key: string;
  readonly description: string;
  readonly filter: string;
  /** Follow page tokens to this page (1 = first page) before measuring. */
  readonly page: number;
  /** Every returned certificate must satisfy this (the benchmark also checks answers). */
  readonly check: (c: Certificate) => boolean;
  /** Whether a full page is expected (the filter matches more than one page). */
  readonly fullPage: boolean;
}

/** The query shapes, in the order they are measured. */
export function shapes(ctx: ShapeContext): Shape[] {
  const cutoffText = `${new Date(ctx.cutoff).toISOString().slice(0, 19)}Z`;
  return [
    { key: "a", description: "no filter", filter: "", page: 1, fullPage: true, check: () => true },
    {
      key: "b",
      description: "CA and state (≈24%)",
      filter: `ca = "${ctx.caName}" AND state = "VALID"`,
      page: 1,
      fullPage: true,
      check: (c) => c.certificateAuthority === ctx.caName && c.state === Certificate_State.VALID,
    },
    {
      key: "c",
      description: "SAN substring, 1 team of 50 (2%)",
      filter: 'san : "team7.example"',
      page: 1,
      fullPage: true,
      check: (c) => c.subjectAltNames.some((s) => s.value.includes("team7.example")),
    },
    {
      key: "d",
      description: "requester and not_after bound (≈3%)",
      filter: `requester = "${ctx.user}" AND not_after < "${cutoffText}"`,
      page: 1,
      fullPage: true,
      check: (c) => c.requester === ctx.user && !!c.notAfter && Number(c.notAfter.seconds) * 1000 < ctx.cutoff,
    },
    {
      key: "e",
      description: "page 20 via page token, no filter",
      filter: "",
      page: 20,
      fullPage: true,
      check: () => true,
    },
    {
      key: "f",
      description: "state REVOKED (5%)",
      filter: 'state = "REVOKED"',
      page: 1,
      fullPage: true,
      check: (c) => c.state === Certificate_State.REVOKED,
    },
    {
      key: "g",
      description: "SAN substring matching one certificate (worst case before 0010)",
      filter: `san : "${ctx.rareSan}"`,
      page: 1,
      fullPage: false,
      check: (c) => c.subjectAltNames.some((s) => s.value.startsWith(ctx.rareSan)),
    },
    {
      key: "h",
      description: "SAN substring of 2 characters, matching none (no index can help)",
      filter: 'san : "q."',
      page: 1,
      fullPage: false,
      check: (c) => c.subjectAltNames.some((s) => s.value.toLowerCase().includes("q.")),
    },
  ];
}

/** Shapes mixed in the concurrent run: the common ones (a-e). */
export const concurrentShapeKeys = ["a", "b", "c", "d", "e"];
