/** The float64 dot product the sweep's JS loops share (closedFormLoss.ts, forward64.ts). */

/**
 * Σ_i x[xAt + i]·y[yAt + i] for i < length, in four partial sums added as (s0 + s1) + (s2 + s3): the multiply-adds
 * overlap instead of waiting on one chain (~3× on a 784-wide layer here).
 */
export function dot(x: ArrayLike<number>, xAt: number, y: ArrayLike<number>, yAt: number, length: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    s0 += x[xAt + i] * y[yAt + i];
    s1 += x[xAt + i + 1] * y[yAt + i + 1];
    s2 += x[xAt + i + 2] * y[yAt + i + 2];
    s3 += x[xAt + i + 3] * y[yAt + i + 3];
  }
  for (; i < length; i++) s0 += x[xAt + i] * y[yAt + i];
  return s0 + s1 + (s2 + s3);
}
