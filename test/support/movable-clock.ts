import type { Clock } from "../../src/core/clock.ts";

/** A test clock: real time, moved forward on demand (advance), or held still (hold) while a test compares answers. */
export interface MovableClock extends Clock {
  advance(ms: number): void;
  /** Stops time where it is until release(); advance() still moves it. */
  hold(): void;
  release(): void;
}

export function movableClock(): MovableClock {
  let offset = 0;
  let held: number | null = null;
  return {
    now: () => new Date(held ?? Date.now() + offset),
    advance(ms) {
      offset += ms;
      if (held !== null) held += ms;
    },
    hold() {
      held = Date.now() + offset;
    },
    release() {
      held = null;
    },
  };
}
