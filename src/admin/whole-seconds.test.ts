import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ChanceryError } from "../core/errors.ts";
import { wholeSeconds } from "./whole-seconds.ts";

const duration = (seconds: bigint, nanos = 0) => create(DurationSchema, { seconds, nanos });

describe("wholeSeconds", () => {
  it("reads whole seconds, and unset as undefined (the core's default)", () => {
    expect(wholeSeconds(duration(900n), "ttl")).toBe(900);
    expect(wholeSeconds(duration(2_147_483_647n), "ttl")).toBe(2_147_483_647);
    expect(wholeSeconds(undefined, "ttl")).toBeUndefined();
  });

  it("refuses fractions, zero, negatives and values past int32 as invalid_argument naming the field", () => {
    for (const bad of [duration(1n, 500_000_000), duration(0n), duration(-5n), duration(2_147_483_648n)]) {
      let caught: unknown;
      try {
        wholeSeconds(bad, "scep_endpoint.challenge_lifetime");
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ChanceryError);
      expect(caught).toMatchObject({
        code: "invalid_argument",
        message: "scep_endpoint.challenge_lifetime must be a positive whole number of seconds",
      });
    }
  });
});
