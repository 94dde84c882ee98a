import { describe, expect, it } from "vitest";
import { createRecentSenderNonces } from "./recent-sender-nonces.ts";

const nonce = (byte: number) => new Uint8Array(16).fill(byte);

describe("recent sender nonces", () => {
  it("knows a nonce added for its endpoint only", () => {
    const nonces = createRecentSenderNonces();
    nonces.add("endpoint-a", nonce(1));
    expect(nonces.has("endpoint-a", nonce(1))).toBe(true);
    expect(nonces.has("endpoint-b", nonce(1))).toBe(false);
    expect(nonces.has("endpoint-a", nonce(2))).toBe(false);
  });

  it("compares the bytes, not the view: a nonce inside a larger buffer is the same nonce", () => {
    const nonces = createRecentSenderNonces();
    const message = new Uint8Array(40).fill(7);
    message.set(nonce(3), 10);
    nonces.add("endpoint-a", message.subarray(10, 26));
    expect(nonces.has("endpoint-a", nonce(3))).toBe(true);
  });

  it("forgets the oldest once it holds its maximum, and adding again does not refresh", () => {
    const nonces = createRecentSenderNonces(3);
    for (const byte of [1, 2, 3]) nonces.add("endpoint-a", nonce(byte));
    nonces.add("endpoint-a", nonce(1));
    nonces.add("endpoint-a", nonce(4));
    expect([1, 2, 3, 4].map((byte) => nonces.has("endpoint-a", nonce(byte)))).toEqual([false, true, true, true]);
  });
});
