/** A number for the report's JSON: 4 significant digits (the pages show at most 4); null for null, NaN and ±∞. */
export function round(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(4));
}
