import { systemActor } from "../actor.ts";
import type { CrlService, CrlSnapshot } from "./crl-service.ts";

/**
 * The CA's newest CRL, built now if none exists yet (a fresh CA, or a
 * gateway that starts serving before the scheduler's first pass), so a
 * relying party following a certificate's CDP never gets a 404 for a CA
 * that can sign. Null when the CA cannot have a CRL (pending, or expired).
 * An unknown CA id throws not_found (from the CA lookup inside refresh).
 *
 * The build is the scheduler's (audited as "system"), not the caller's:
 * whoever asks only gets sooner what the next pass would have built.
 */
export async function currentCrl(
  crls: Pick<CrlService, "latest" | "refresh">,
  caId: string,
): Promise<CrlSnapshot | null> {
  const latest = await crls.latest(caId);
  if (latest) return latest;
  // Waits for the CA's CRL lock: a replica building the first CRL right now is waited for, not raced.
  const outcome = await crls.refresh(caId, systemActor, { wait: true });
  if (outcome.status === "generated") return outcome.crl;
  if (outcome.status === "current") return crls.latest(caId);
  return null;
}
