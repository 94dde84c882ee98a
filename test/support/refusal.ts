import { expect } from "vitest";
import { ChanceryError } from "../../src/core/errors.ts";

/** The ChanceryError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function refusal(promise: Promise<unknown>): Promise<ChanceryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ChanceryError)) throw new Error(`expected a ChanceryError, got ${String(err)}`);
  return err;
}

/** Expects `fn` to throw a ChanceryError invalid_argument whose message matches `message`. */
export function expectInvalidArgument(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("invalid_argument");
    expect((err as ChanceryError).message).toMatch(message);
    return;
  }
  throw new Error("expected invalid_argument");
}
