/** Small shared computations on logits and labels. Sums run in float64. */

/** A matrix as plain JSON-ready data: row-major values and their shape. */
export interface Matrix {
  /** The values, row-major (C order): entry [i, j] of a [rows, cols] matrix at i·cols + j. */
  data: number[] | Float32Array | Float64Array | Int32Array;
  /** The dimensions ([rows, cols] for a matrix); their product is `data.length`. */
  shape: number[];
}

export function classCounts(labels: Int32Array, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
  return best;
}
