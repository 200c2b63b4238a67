/** Small shared computations on logits and labels. Sums run in float64. */

/** A matrix as plain JSON-ready data: row-major values and their shape. */
export interface Matrix {
  data: number[] | Float32Array | Float64Array | Int32Array;
  shape: number[];
}

export function classCounts(labels: Int32Array, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** −log softmax(row)[label], computed stably in float64. */
export function crossEntropy(row: ArrayLike<number>, label: number): number {
  let max = -Infinity;
  for (let c = 0; c < row.length; c++) if (row[c] > max) max = row[c];
  let sum = 0;
  for (let c = 0; c < row.length; c++) sum += Math.exp(row[c] - max);
  return Math.log(sum) + max - row[label];
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
  return best;
}
