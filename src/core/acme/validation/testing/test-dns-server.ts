import dgram from "node:dgram";
import net from "node:net";
import dnsPacket, { type Answer, type Packet, type Question } from "dns-packet";

/**
 * An in-process DNS server for tests that behaves like the recursive
 * resolver a CA queries: it follows CNAME chains itself and returns the
 * chain plus the target's records in the answer section (RFC 1034 §4.3.2),
 * answers NXDOMAIN for names it does not know, and can be told to fail a
 * name (SERVFAIL) or to never answer it (for timeouts). All records have
 * TTL 0 so no resolver cache keeps an answer across test steps.
 *
 * UDP on 127.0.0.1, with TCP on the same port for answers too large for
 * the client's UDP payload size (RFC 1035 §4.2.2, RFC 6891 §6.2.5).
 */

export interface TestCaaRecord {
  readonly flags: number;
  readonly tag: string;
  readonly value: string;
}

export interface TestDnsQuery {
  readonly name: string;
  readonly type: string;
  readonly transport: "udp" | "tcp";
}

export interface TestDnsServer {
  /** "127.0.0.1:<port>", as createDnsLookup({ servers }) takes it. */
  readonly address: string;
  readonly port: number;
  setA(name: string, ips: readonly string[]): void;
  setAAAA(name: string, ips: readonly string[]): void;
  /** Each value is one TXT record (split into 255-octet character-strings when longer). */
  setTxt(name: string, values: readonly string[]): void;
  setCaa(name: string, records: readonly TestCaaRecord[]): void;
  /** The name becomes an alias: its other records are ignored while the CNAME is set. */
  setCname(name: string, target: string): void;
  /** Every question about the name (or reaching it through a CNAME) is answered SERVFAIL. */
  setServfail(name: string): void;
  /** Questions about the name are never answered (a resolver timing out). */
  setDrop(name: string): void;
  /** Forgets everything about the name: it answers NXDOMAIN again. */
  clear(name: string): void;
  clearAll(): void;
  /** Every question received, oldest first (names lower-cased, without the trailing dot). */
  readonly queries: readonly TestDnsQuery[];
  close(): Promise<void>;
}

interface NameEntry {
  a?: string[];
  aaaa?: string[];
  txt?: string[];
  caa?: TestCaaRecord[];
  cname?: string;
  servfail?: boolean;
  drop?: boolean;
}

const rcodeNoError = 0;
const rcodeServfail = 2;
const rcodeNxdomain = 3;
const rcodeFormErr = 1;
/** RFC 1035 §4.2.1: without EDNS a UDP answer is at most 512 octets. */
const classicUdpLimit = 512;
const maxCnameChain = 16;

function key(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

export async function startTestDnsServer(): Promise<TestDnsServer> {
  const zone = new Map<string, NameEntry>();
  const queries: TestDnsQuery[] = [];
  const { udp, tcp } = await bindPair();
  const tcpSockets = new Set<net.Socket>();

  function entry(name: string): NameEntry {
    const k = key(name);
    let e = zone.get(k);
    if (!e) {
      e = {};
      zone.set(k, e);
    }
    return e;
  }

  /** Builds the answer to one question, or undefined to stay silent. */
  function answer(query: Packet, transport: "udp" | "tcp", maxSize: number): Buffer | undefined {
    const question = query.questions?.[0];
    const base: Packet = {
      type: "response",
      id: query.id ?? 0,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: question ? [question] : [],
    };
    if (!question) return encode({ ...base, flags: (base.flags ?? 0) | rcodeFormErr });
    queries.push({ name: key(question.name), type: question.type, transport });
    const resolved = resolve(question);
    if (resolved === "drop") return undefined;
    const response: Packet = { ...base, flags: (base.flags ?? 0) | resolved.rcode, answers: resolved.answers };
    const ednsOpt = query.additionals?.find((a) => a.type === "OPT");
    if (ednsOpt) response.additionals = [{ type: "OPT", name: ".", udpPayloadSize: 1232 } as Answer];
    const full = encode(response);
    if (full.length <= maxSize) return full;
    // RFC 2181 §9: too large for UDP, so truncate and let the client retry over TCP.
    return encode({ ...response, answers: [], flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE });
  }

  function resolve(question: Question): "drop" | { rcode: number; answers: Answer[] } {
    const answers: Answer[] = [];
    let name = key(question.name);
    const seen = new Set<string>();
    for (;;) {
      const e = zone.get(name);
      if (e?.drop) return "drop";
      if (e?.servfail) return { rcode: rcodeServfail, answers: [] };
      if (!e) return { rcode: rcodeNxdomain, answers };
      if (e.cname !== undefined && question.type !== "CNAME") {
        if (seen.has(name) || seen.size >= maxCnameChain) return { rcode: rcodeServfail, answers: [] };
        seen.add(name);
        answers.push({ type: "CNAME", name, ttl: 0, data: e.cname });
        name = key(e.cname);
        continue;
      }
      answers.push(...records(name, e, question.type));
      return { rcode: rcodeNoError, answers };
    }
  }

  function handleUdp(message: Buffer, remote: dgram.RemoteInfo) {
    let query: Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return; // not DNS: ignore, as a resolver would
    }
    const opt = query.additionals?.find((a) => a.type === "OPT") as { udpPayloadSize?: number } | undefined;
    const limit = Math.max(classicUdpLimit, opt?.udpPayloadSize ?? classicUdpLimit);
    const reply = answer(query, "udp", limit);
    if (reply) udp.send(reply, remote.port, remote.address);
  }

  tcp.on("connection", (socket) => {
    tcpSockets.add(socket);
    socket.on("close", () => tcpSockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // RFC 1035 §4.2.2: each message is preceded by a two-octet length.
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        let query: Packet;
        try {
          query = dnsPacket.decode(message);
        } catch {
          socket.destroy();
          return;
        }
        const reply = answer(query, "tcp", 0xffff);
        if (!reply) continue;
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        socket.write(framed);
      }
    });
  });
  udp.on("message", handleUdp);

  const port = udp.address().port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    setA: (name, ips) => {
      entry(name).a = [...ips];
    },
    setAAAA: (name, ips) => {
      entry(name).aaaa = [...ips];
    },
    setTxt: (name, values) => {
      entry(name).txt = [...values];
    },
    setCaa: (name, records) => {
      entry(name).caa = records.map((r) => ({ ...r }));
    },
    setCname: (name, target) => {
      entry(name).cname = target;
    },
    setServfail: (name) => {
      entry(name).servfail = true;
    },
    setDrop: (name) => {
      entry(name).drop = true;
    },
    clear: (name) => {
      zone.delete(key(name));
    },
    clearAll: () => {
      zone.clear();
      queries.length = 0;
    },
    queries,
    close: async () => {
      for (const socket of tcpSockets) socket.destroy();
      await Promise.all([
        new Promise<void>((done) => udp.close(() => done())),
        new Promise<void>((done) => tcp.close(() => done())),
      ]);
    },
  };
}

function records(name: string, e: NameEntry, type: string): Answer[] {
  switch (type) {
    case "A":
      return (e.a ?? []).map((data) => ({ type: "A", name, ttl: 0, data }));
    case "AAAA":
      return (e.aaaa ?? []).map((data) => ({ type: "AAAA", name, ttl: 0, data }));
    case "TXT":
      return (e.txt ?? []).map((value) => ({ type: "TXT", name, ttl: 0, data: characterStrings(value) }));
    case "CAA":
      // dns-packet's types only list the RFC 8659 tags; any tag encodes the same way (RFC 8659 §4.1).
      return (e.caa ?? []).map(
        (r) => ({ type: "CAA", name, ttl: 0, data: { flags: r.flags, tag: r.tag, value: r.value } }) as Answer,
      );
    case "CNAME":
      return e.cname === undefined ? [] : [{ type: "CNAME", name, ttl: 0, data: e.cname }];
    default:
      return [];
  }
}

/** RFC 1035 §3.3.14: a TXT record is one or more character-strings of at most 255 octets. */
function characterStrings(value: string): Buffer[] {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255));
  return out;
}

function encode(packet: Packet): Buffer {
  return dnsPacket.encode(packet);
}

/** A UDP socket and a TCP listener on the same free port of 127.0.0.1. */
async function bindPair(): Promise<{ udp: dgram.Socket; tcp: net.Server }> {
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((done, fail) => {
      udp.once("error", fail);
      udp.bind(0, "127.0.0.1", () => {
        udp.off("error", fail);
        done();
      });
    });
    const tcp = net.createServer();
    try {
      await new Promise<void>((done, fail) => {
        tcp.once("error", fail);
        tcp.listen(udp.address().port, "127.0.0.1", () => {
          tcp.off("error", fail);
          done();
        });
      });
      return { udp, tcp };
    } catch (err) {
      udp.close();
      // The UDP port's TCP twin was taken by something else; pick another.
      if (attempt >= 10) throw err;
    }
  }
}
