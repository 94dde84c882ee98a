/** Injected everywhere time matters, so tests can move it (DESIGN rule 4). */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
