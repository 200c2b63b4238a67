/** The values the float64 interpreter computes on: every element (float or integer) as a float64, row-major. */
export interface Tensor64 {
  dims: number[];
  data: Float64Array;
  /** Whether the tensor holds integers (shapes, indices): Cast and Shape keep them apart from floats. */
  integer?: boolean;
}

export function sizeOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * dims[i + 1];
  return strides;
}

/** A negative axis counted from the end, as ONNX defines it. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** NumPy broadcasting of two shapes; null when they do not broadcast. */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of `dims` read as broadcast to `target` (0 along broadcast axes). */
export function broadcastStrides(dims: readonly number[], target: readonly number[]): number[] {
  const own = stridesOf(dims);
  return target.map((_, i) => {
    const j = i - (target.length - dims.length);
    return j < 0 || dims[j] === 1 ? 0 : own[j];
  });
}
