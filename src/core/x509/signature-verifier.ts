import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ChanceryError } from "../errors.ts";
import { type ProofOfPossession, verifyProofOfPossession } from "./parse-csr.ts";

/** Checks CSR self-signatures (proof of possession, RFC 2986 §3). */
export interface SignatureVerifier {
  verify(proof: ProofOfPossession): Promise<boolean>;
  close(): Promise<void>;
}

/** On the calling thread: for tests, tools, and one-off checks. */
export function createInlineSignatureVerifier(): SignatureVerifier {
  return {
    verify: async (proof) => verifyProofOfPossession(proof),
    close: async () => {},
  };
}

interface Pending {
  proof: ProofOfPossession;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

interface VerifierThread {
  worker: Worker;
  pending: Map<number, Pending>;
  outbox: Array<{ id: number; proof: ProofOfPossession }>;
  answered: boolean;
}

/**
 * CSR signature checks on worker threads. A P-256 check costs node:crypto
 * ~100 µs plus ~70 µs to load the public key (OpenSSL 3's decoders), more
 * than building and signing the certificate; done on the event loop it
 * would cap every protocol listener at a few thousand requests a second and
 * stall them meanwhile. Checks submitted in the same tick go to a thread in
 * one message, and each thread answers a batch in one message.
 */
export function createWorkerSignatureVerifier(options: { threads?: number } = {}): SignatureVerifier {
  // One per core: the event loop mostly waits on I/O, so the checks may use every core.
  const count = Math.max(1, options.threads ?? availableParallelism());
  const threads: VerifierThread[] = [];
  let nextId = 1;
  let closing = false;
  let flushScheduled = false;
  // A thread that dies before answering anything (say the worker file cannot
  // load) is not respawned forever: after three such deaths the checks run
  // inline, slower but correct.
  let startupFailures = 0;
  let inline = false;

  function spawn(): VerifierThread {
    const thread: VerifierThread = {
      worker: new Worker(new URL("./signature-verifier-worker.ts", import.meta.url)),
      pending: new Map(),
      outbox: [],
      answered: false,
    };
    thread.worker.unref();
    thread.worker.on("message", (results: Array<{ id: number; ok: boolean }>) => {
      thread.answered = true;
      for (const { id, ok } of results) {
        thread.pending.get(id)?.resolve(ok);
        thread.pending.delete(id);
      }
    });
    const fail = () => {
      // The check is a pure function: what a dead thread left undone is
      // answered here instead, so a crash costs latency, not requests.
      for (const p of thread.pending.values()) {
        try {
          p.resolve(verifyProofOfPossession(p.proof));
        } catch (err) {
          p.reject(err);
        }
      }
      thread.pending.clear();
      const index = threads.indexOf(thread);
      if (index < 0 || closing) return;
      if (!thread.answered && ++startupFailures >= 3) {
        inline = true;
        threads.splice(index, 1);
        return;
      }
      threads[index] = spawn();
    };
    thread.worker.on("error", fail);
    thread.worker.on("exit", () => {
      if (!closing) fail();
    });
    return thread;
  }

  for (let i = 0; i < count; i++) threads.push(spawn());

  function flush(): void {
    flushScheduled = false;
    for (const thread of threads) {
      if (thread.outbox.length === 0) continue;
      thread.worker.postMessage(thread.outbox);
      thread.outbox = [];
    }
  }

  return {
    verify(proof) {
      if (closing) return Promise.reject(new ChanceryError("unavailable", "the gateway is shutting down"));
      if (inline || threads.length === 0) return Promise.resolve(verifyProofOfPossession(proof));
      // The thread with the least work waiting gets the check.
      let thread = threads[0]!;
      for (const t of threads) if (t.pending.size < thread.pending.size) thread = t;
      const id = nextId++;
      return new Promise<boolean>((resolve, reject) => {
        thread.pending.set(id, { proof, resolve, reject });
        thread.outbox.push({ id, proof });
        if (!flushScheduled) {
          flushScheduled = true;
          queueMicrotask(flush);
        }
      });
    },
    async close() {
      closing = true;
      await Promise.all(threads.map((t) => t.worker.terminate()));
      for (const t of threads)
        for (const p of t.pending.values()) p.reject(new ChanceryError("unavailable", "the gateway is shutting down"));
    },
  };
}
