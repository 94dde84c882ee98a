import { parentPort } from "node:worker_threads";
import { type ProofOfPossession, verifyProofOfPossession } from "./parse-csr.ts";

/** Worker side of signature-verifier.ts: answers each batch of checks with one message. */
parentPort?.on("message", (batch: Array<{ id: number; proof: ProofOfPossession }>) => {
  parentPort!.postMessage(batch.map(({ id, proof }) => ({ id, ok: verifyProofOfPossession(proof) })));
});
