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
