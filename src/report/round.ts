/** A number for the report's JSON: 4 significant digits (the pages show at most 4); null for null, NaN and ±∞. */
export function round(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(4));
}

/**
 * round, with a difference of fractions that float rounding left at ~1e-16 where it is 0 (a population's interaction:
 * its group drop less the sum of its singles' drops, each a multiple of 1/n) shown as 0.
 */
export function noiseless(v: number | null): number | null {
  return v !== null && Math.abs(v) < 1e-12 ? 0 : round(v);
}
