/**
 * Sender nonces this process has seen recorded lately, by endpoint: a hint
 * that lets a message sent again on an endpoint that decides at once be
 * answered as a replay before any issuing work, where without it the
 * commit's unique sender nonce refuses it only after the CA has signed a
 * certificate for it (decision 0017). A replayed message (SCEP runs over
 * plain HTTP, so anyone on the path can resend one) then costs each replica
 * at most one signature, however often it comes.
 *
 * Only a hint: the answer is still read from the stored transaction, and a
 * nonce this process never saw, or has forgotten, is still refused by the
 * commit. So only nonces known to be stored are added, and forgetting the
 * oldest once `max` are held costs nothing but that signature.
 */
export interface RecentSenderNonces {
  has(endpointId: string, senderNonce: Uint8Array): boolean;
  /** After the nonce was stored: this process recorded it, or its commit found it recorded. */
  add(endpointId: string, senderNonce: Uint8Array): void;
}

export function createRecentSenderNonces(max = 10_000): RecentSenderNonces {
  const seen = new Set<string>();
  const keyOf = (endpointId: string, senderNonce: Uint8Array) =>
    `${endpointId}:${Buffer.from(senderNonce.buffer, senderNonce.byteOffset, senderNonce.length).toString("latin1")}`;
  return {
    has: (endpointId, senderNonce) => seen.has(keyOf(endpointId, senderNonce)),
    add(endpointId, senderNonce) {
      const key = keyOf(endpointId, senderNonce);
      if (seen.has(key)) return;
      // A Set iterates in insertion order: the first is the oldest.
      if (seen.size >= max) seen.delete(seen.values().next().value!);
      seen.add(key);
    },
  };
}
