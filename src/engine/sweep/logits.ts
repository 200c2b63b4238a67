/** Reading a row of logits: the prediction (ties toward the lower class), whether it is a near tie, the loss. */

/** Relative top-2 margin below which a float32 prediction is re-decided in float64. */
export const TIE_MARGIN = 1e-4;

/**
 * The arg max of row[from .. from+k), or −1 − arg max when its top two are within TIE_MARGIN of the larger magnitude
 * (or of 1, for logits near 0, whose float32 error is relative to the terms that cancelled in them, not to their own
 * size). A number rather than an object: sweeps call this millions of times.
 */
export function decide(row: ArrayLike<number>, from = 0, k = row.length - from): number {
  let best = 0;
  let second = -1;
  for (let c = 1; c < k; c++) {
    const v = row[from + c];
    if (v > row[from + best]) {
      second = best;
      best = c;
    } else if (second < 0 || v > row[from + second]) second = c;
  }
  if (second < 0) return best;
  const top = row[from + best];
  const next = row[from + second];
  return top - next <= TIE_MARGIN * Math.max(Math.abs(top), Math.abs(next), 1) ? -1 - best : best;
}

/** Softmax cross-entropy (natural log) of row[from .. from+k) for `label`, in float64. */
export function crossEntropy(row: ArrayLike<number>, label: number, from = 0, k = row.length - from): number {
  let max = -Infinity;
  for (let c = 0; c < k; c++) if (row[from + c] > max) max = row[from + c];
  let sum = 0;
  for (let c = 0; c < k; c++) sum += Math.exp(row[from + c] - max);
  return Math.log(sum) + max - row[from + label];
}
