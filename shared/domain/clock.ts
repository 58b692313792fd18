/**
 * Time is a dependency: domain code never calls `new Date()` or `Date.now()`; it asks a Clock.
 * Tests use a fixed clock so that every expiry decision is reproducible.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface FixedClock extends Clock {
  set(at: Date | string): void;
  advance(ms: number): void;
}

export function fixedClock(at: Date | string): FixedClock {
  let current = new Date(at).getTime();
  return {
    now: () => new Date(current),
    set: (next) => {
      current = new Date(next).getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

export const MS_PER_DAY = 86_400_000;
export const MS_PER_HOUR = 3_600_000;
