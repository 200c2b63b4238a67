/**
 * float64 kernels of the ONNX operators CNN and MLP classifiers use, written from the ONNX operator specification
 * (https://onnx.ai/onnx/operators/): Gemm, MatMul (Conv and pooling are in window.ts),
 * element-wise arithmetic with NumPy broadcasting, activations, BatchNormalization (inference), Reduce ops, shape ops. Each
 * takes the node's inputs and attributes and returns its outputs; an input or attribute outside what is written
 * here throws `unsupported-op`, so a caller never gets a guessed value.
 */
import { fail } from "../../errors.js";
import { broadcastDims, broadcastStrides, normAxis, sizeOf, stridesOf, type Tensor64 } from "./tensor64.js";

export function unsupported(op: string, what: string): never {
  fail("unsupported-op", `the float64 interpreter has no ${op} with ${what}`, { op });
}

/** Element-wise binary op with NumPy broadcasting. */
export function binary(a: Tensor64, b: Tensor64, op: (x: number, y: number) => number, name: string): Tensor64 {
  const dims = broadcastDims(a.dims, b.dims);
  if (!dims) unsupported(name, `shapes [${a.dims}] and [${b.dims}] that do not broadcast`);
  const n = sizeOf(dims);
  const out = new Float64Array(n);
  if (a.data.length === n && b.data.length === n) {
    for (let i = 0; i < n; i++) out[i] = op(a.data[i], b.data[i]);
  } else if (b.data.length === 1 && a.data.length === n) {
    const y = b.data[0];
    for (let i = 0; i < n; i++) out[i] = op(a.data[i], y);
  } else {
    const sa = broadcastStrides(a.dims, dims);
    const sb = broadcastStrides(b.dims, dims);
    const rank = dims.length;
    const index = new Array<number>(rank).fill(0);
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < n; i++) {
      out[i] = op(a.data[ia], b.data[ib]);
      for (let d = rank - 1; d >= 0; d--) {
        index[d]++;
        ia += sa[d];
        ib += sb[d];
        if (index[d] < dims[d]) break;
        ia -= sa[d] * dims[d];
        ib -= sb[d] * dims[d];
        index[d] = 0;
      }
    }
  }
  return { dims, data: out, integer: a.integer && b.integer };
}

/** Where(condition, x, y) with NumPy broadcasting of all three: x where the condition is non-zero, else y. */
export function where(condition: Tensor64, x: Tensor64, y: Tensor64): Tensor64 {
  const inner = broadcastDims(x.dims, y.dims);
  const dims = inner && broadcastDims(condition.dims, inner);
  if (!dims) unsupported("Where", `shapes [${condition.dims}], [${x.dims}] and [${y.dims}] that do not broadcast`);
  const n = sizeOf(dims);
  const strides = stridesOf(dims);
  const [sc, sx, sy] = [condition, x, y].map((t) => broadcastStrides(t.dims, dims));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let ic = 0;
    let ix = 0;
    let iy = 0;
    for (let d = 0; d < dims.length; d++) {
      const at = Math.floor(i / strides[d]) % dims[d];
      ic += at * sc[d];
      ix += at * sx[d];
      iy += at * sy[d];
    }
    out[i] = condition.data[ic] !== 0 ? x.data[ix] : y.data[iy];
  }
  return { dims, data: out, integer: x.integer && y.integer };
}

export function unary(x: Tensor64, op: (v: number) => number): Tensor64 {
  return { dims: x.dims, data: x.data.map(op) };
}

/** [.., M, K] × [.., K, N] with broadcast batch dims (1-D operands promoted as NumPy's matmul does). */
export function matmul(a: Tensor64, b: Tensor64): Tensor64 {
  const ad = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bd = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const [M, K] = ad.slice(-2);
  const [K2, N] = bd.slice(-2);
  if (K !== K2) unsupported("MatMul", `shapes [${a.dims}] and [${b.dims}]`);
  const batch = broadcastDims(ad.slice(0, -2), bd.slice(0, -2));
  if (!batch) unsupported("MatMul", `batch shapes [${a.dims}] and [${b.dims}]`);
  const sa = broadcastStrides(ad.slice(0, -2), batch);
  const sb = broadcastStrides(bd.slice(0, -2), batch);
  const count = sizeOf(batch);
  const bstr = stridesOf(batch);
  const out = new Float64Array(count * M * N);
  for (let t = 0; t < count; t++) {
    let oa = 0;
    let ob = 0;
    for (let d = 0; d < batch.length; d++) {
      const i = Math.floor(t / bstr[d]) % batch[d];
      oa += i * sa[d];
      ob += i * sb[d];
    }
    oa *= M * K;
    ob *= K * N;
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const v = a.data[oa + i * K + k];
        if (v === 0) continue;
        const row = ob + k * N;
        const at = (t * M + i) * N;
        for (let j = 0; j < N; j++) out[at + j] += v * b.data[row + j];
      }
    }
  }
  let dims = [...batch, M, N];
  if (a.dims.length === 1) dims = dims.filter((_, i) => i !== dims.length - 2);
  if (b.dims.length === 1) dims = dims.slice(0, -1);
  return { dims, data: out };
}

/** Gemm: alpha · A' · B' + beta · C (A', B' transposed per transA/transB; C broadcast). */
export function gemm(a: Tensor64, b: Tensor64, c: Tensor64 | undefined, alpha: number, beta: number, transA: boolean, transB: boolean): Tensor64 {
  const A = transA ? transpose(a, [1, 0]) : a;
  const B = transB ? transpose(b, [1, 0]) : b;
  let y = matmul(A, B);
  if (alpha !== 1) y = unary(y, (v) => alpha * v);
  if (c && beta !== 0) y = binary(y, beta === 1 ? c : unary(c, (v) => beta * v), (p, q) => p + q, "Gemm");
  return y;
}

/** A row-major [rows × cols] matrix as [cols × rows] (a unit's outgoing weights made contiguous). */
export function transposeMatrix(values: Float64Array, rows: number, cols: number): Float64Array {
  return transpose({ dims: [rows, cols], data: values }, [1, 0]).data;
}

/** ONNX Transpose: axes permuted by `perm` (reversed when empty). */
export function transpose(x: Tensor64, perm: number[]): Tensor64 {
  const rank = x.dims.length;
  const p = perm.length ? perm : x.dims.map((_, i) => rank - 1 - i);
  const dims = p.map((i) => x.dims[i]);
  const inStrides = stridesOf(x.dims);
  const strides = p.map((i) => inStrides[i]);
  const n = x.data.length;
  const out = new Float64Array(n);
  const index = new Array<number>(rank).fill(0);
  let from = 0;
  for (let i = 0; i < n; i++) {
    out[i] = x.data[from];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      from += strides[d];
      if (index[d] < dims[d]) break;
      from -= strides[d] * dims[d];
      index[d] = 0;
    }
  }
  return { dims, data: out, integer: x.integer };
}

/** BatchNormalization in inference mode: (x − mean) / sqrt(var + ε) · scale + bias, per channel (axis 1). */
export function batchNorm(x: Tensor64, scale: Tensor64, bias: Tensor64, mean: Tensor64, variance: Tensor64, epsilon: number): Tensor64 {
  const [n, c] = x.dims;
  const plane = sizeOf(x.dims.slice(2));
  const out = new Float64Array(x.data.length);
  for (let ch = 0; ch < c; ch++) {
    const factor = scale.data[ch] / Math.sqrt(variance.data[ch] + epsilon);
    for (let s = 0; s < n; s++) {
      const at = (s * c + ch) * plane;
      for (let i = 0; i < plane; i++) out[at + i] = (x.data[at + i] - mean.data[ch]) * factor + bias.data[ch];
    }
  }
  return { dims: x.dims, data: out };
}

/**
 * LayerNormalization (opset 17): each row of the dims from `axis` on, less its mean, over √(variance + ε) (the
 * population variance), times `scale` plus `bias`, both of those dims' shape (ConvNeXt, transformers).
 */
export function layerNorm(x: Tensor64, scale: Tensor64, bias: Tensor64 | undefined, axis: number, epsilon: number): Tensor64 {
  const a = normAxis(axis, x.dims.length);
  const inner = sizeOf(x.dims.slice(a));
  const out = new Float64Array(x.data.length);
  for (let at = 0; at < x.data.length; at += inner) {
    const { mean, factor } = moments(x.data, at, inner, epsilon);
    for (let i = 0; i < inner; i++) out[at + i] = (x.data[at + i] - mean) * factor * scale.data[i % scale.data.length] + (bias ? bias.data[i % bias.data.length] : 0);
  }
  return { dims: x.dims, data: out };
}

/** The mean of `data[at, at + inner)` and 1/√(variance + ε), its (biased) variance: what LayerNorm and InstanceNorm divide by. */
function moments(data: Float64Array, at: number, inner: number, epsilon: number): { mean: number; factor: number } {
  let mean = 0;
  for (let i = 0; i < inner; i++) mean += data[at + i];
  mean /= inner;
  let variance = 0;
  for (let i = 0; i < inner; i++) variance += (data[at + i] - mean) ** 2;
  return { mean, factor: 1 / Math.sqrt(variance / inner + epsilon) };
}

/** InstanceNormalization ([N, C, …]): each sample's channel normalised over its positions, then scale[c]·x + bias[c]. */
export function instanceNorm(x: Tensor64, scale: Tensor64, bias: Tensor64, epsilon: number): Tensor64 {
  const channels = x.dims[1];
  const inner = sizeOf(x.dims.slice(2));
  const out = new Float64Array(x.data.length);
  for (let at = 0, block = 0; at < x.data.length; at += inner, block++) {
    const c = block % channels;
    const { mean, factor } = moments(x.data, at, inner, epsilon);
    for (let i = 0; i < inner; i++) out[at + i] = (x.data[at + i] - mean) * factor * scale.data[c] + bias.data[c];
  }
  return { dims: x.dims, data: out };
}

/** Softmax or LogSoftmax over `axis` (opset ≥ 13), or over the flattened dims from `axis` on (opset < 13). */
export function softmax(x: Tensor64, axis: number, coerce: boolean, log: boolean): Tensor64 {
  const a = normAxis(axis, x.dims.length);
  const inner = coerce ? sizeOf(x.dims.slice(a)) : x.dims[a];
  const after = coerce ? 1 : sizeOf(x.dims.slice(a + 1));
  const outer = x.data.length / (inner * after);
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < after; t++) {
      const at = (i: number) => o * inner * after + i * after + t;
      let max = -Infinity;
      for (let i = 0; i < inner; i++) max = Math.max(max, x.data[at(i)]);
      let sum = 0;
      for (let i = 0; i < inner; i++) sum += Math.exp(x.data[at(i)] - max);
      for (let i = 0; i < inner; i++) out[at(i)] = log ? x.data[at(i)] - max - Math.log(sum) : Math.exp(x.data[at(i)] - max) / sum;
    }
  }
  return { dims: x.dims, data: out };
}

export function concat(xs: Tensor64[], axis: number): Tensor64 {
  const a = normAxis(axis, xs[0].dims.length);
  const outer = sizeOf(xs[0].dims.slice(0, a));
  const widths = xs.map((x) => sizeOf(x.dims.slice(a)));
  const total = widths.reduce((p, q) => p + q, 0);
  const out = new Float64Array(outer * total);
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    xs.forEach((x, i) => {
      out.set(x.data.subarray(o * widths[i], (o + 1) * widths[i]), at);
      at += widths[i];
    });
  }
  const dims = [...xs[0].dims];
  dims[a] = xs.reduce((s, x) => s + x.dims[a], 0);
  return { dims, data: out, integer: xs.every((x) => x.integer) };
}

/** Reshape's target shape: 0 copies the input's dim (unless allowzero), one −1 is inferred. */
export function reshapeDims(input: readonly number[], shape: readonly number[], allowzero: boolean): number[] {
  const dims = shape.map((d, i) => (d === 0 && !allowzero ? input[i] : d));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = sizeOf(input);
  const out = dims.map((d) => (d === -1 ? total / known : d));
  if (sizeOf(out) !== total || out.some((d) => !Number.isInteger(d))) unsupported("Reshape", `input [${input}] to shape [${shape}]`);
  return out;
}

export function gather(x: Tensor64, indices: Tensor64, axis: number): Tensor64 {
  const a = normAxis(axis, x.dims.length);
  const outer = sizeOf(x.dims.slice(0, a));
  const inner = sizeOf(x.dims.slice(a + 1));
  const size = x.dims[a];
  const out = new Float64Array(outer * indices.data.length * inner);
  for (let o = 0; o < outer; o++) {
    indices.data.forEach((raw, j) => {
      const i = raw < 0 ? raw + size : raw;
      out.set(x.data.subarray((o * size + i) * inner, (o * size + i + 1) * inner), (o * indices.data.length + j) * inner);
    });
  }
  return { dims: [...x.dims.slice(0, a), ...indices.dims, ...x.dims.slice(a + 1)], data: out, integer: x.integer };
}

/** Slice with starts/ends/axes/steps as in opset ≥ 10 (clamped as ONNX specifies). */
export function slice(x: Tensor64, starts: number[], ends: number[], axes: number[], steps: number[]): Tensor64 {
  const rank = x.dims.length;
  const begin = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const dims = [...x.dims];
  starts.forEach((s, i) => {
    const a = normAxis(axes[i] ?? i, rank);
    const d = x.dims[a];
    const st = steps[i] ?? 1;
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
    const from = st > 0 ? clamp(s, 0, d) : clamp(s, 0, d - 1);
    const to = st > 0 ? clamp(ends[i], 0, d) : clamp(ends[i], -1, d - 1);
    begin[a] = from;
    step[a] = st;
    dims[a] = Math.max(0, Math.ceil((to - from) / st));
  });
  const inStrides = stridesOf(x.dims);
  const out = new Float64Array(sizeOf(dims));
  const outStrides = stridesOf(dims);
  for (let i = 0; i < out.length; i++) {
    let from = 0;
    for (let d = 0; d < rank; d++) from += (begin[d] + (Math.floor(i / outStrides[d]) % dims[d]) * step[d]) * inStrides[d];
    out[i] = x.data[from];
  }
  return { dims, data: out, integer: x.integer };
}

/** How a Reduce op folds the values of one output cell: start value, step, and the last step (count = cell size). */
interface Reduction {
  start: number;
  step: (acc: number, v: number) => number;
  end: (acc: number, count: number) => number;
}

/** The ONNX Reduce ops (ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare). */
export const REDUCTIONS: Record<string, Reduction> = {
  ReduceSum: { start: 0, step: (a, v) => a + v, end: (a) => a },
  ReduceMean: { start: 0, step: (a, v) => a + v, end: (a, count) => a / count },
  ReduceMax: { start: -Infinity, step: (a, v) => (v > a || Number.isNaN(v) ? v : a), end: (a) => a },
  ReduceMin: { start: Infinity, step: (a, v) => (v < a || Number.isNaN(v) ? v : a), end: (a) => a },
  ReduceProd: { start: 1, step: (a, v) => a * v, end: (a) => a },
  ReduceL1: { start: 0, step: (a, v) => a + Math.abs(v), end: (a) => a },
  ReduceL2: { start: 0, step: (a, v) => a + v * v, end: (a) => Math.sqrt(a) },
  ReduceSumSquare: { start: 0, step: (a, v) => a + v * v, end: (a) => a },
};

/**
 * x reduced over `axes` (every axis where empty), keeping them as size 1 where `keepdims`: each output cell folds
 * its values in row-major order (PyTorch's x.mean((2, 3)) exports as ReduceMean over axes 2, 3).
 */
export function reduce(x: Tensor64, axes: number[], keepdims: boolean, reduction: Reduction, op: string): Tensor64 {
  const rank = x.dims.length;
  const reduced = new Set((axes.length ? axes : x.dims.map((_, i) => i)).map((a) => normAxis(a, rank)));
  for (const a of reduced) if (!(a >= 0 && a < rank)) unsupported(op, `axis ${a} of a rank-${rank} input`);
  const kept = x.dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const size = sizeOf(kept);
  // Strides of the output read from each input axis (0 along a reduced one).
  const outStrides = stridesOf(kept).map((s, i) => (reduced.has(i) ? 0 : s));
  const acc = new Float64Array(size).fill(reduction.start);
  const index = new Array<number>(rank).fill(0);
  let to = 0;
  for (let i = 0; i < x.data.length; i++) {
    acc[to] = reduction.step(acc[to], x.data[i]);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      to += outStrides[d];
      if (index[d] < x.dims[d]) break;
      to -= outStrides[d] * x.dims[d];
      index[d] = 0;
    }
  }
  const count = x.data.length / Math.max(size, 1);
  const data = acc.map((a) => reduction.end(a, count));
  return { dims: keepdims ? kept : x.dims.filter((_, i) => !reduced.has(i)), data };
}

/**
 * ONNX Pad: `pads` [begin_0 … begin_{r−1}, end_0 … end_{r−1}] (negative entries crop), filled with `value`
 * (constant), the mirror image without the edge (reflect), or the edge repeated (edge).
 */
export function pad(x: Tensor64, pads: number[], mode: "constant" | "reflect" | "edge", value: number): Tensor64 {
  const rank = x.dims.length;
  if (pads.length !== 2 * rank) unsupported("Pad", `${pads.length} pads for a rank-${rank} tensor`);
  const dims = x.dims.map((d, i) => d + pads[i] + pads[i + rank]);
  if (dims.some((d) => d < 0)) unsupported("Pad", "pads that crop past the tensor");
  const inStrides = stridesOf(x.dims);
  const out = new Float64Array(sizeOf(dims));
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let at = 0;
    let outside = false;
    for (let i = 0; i < rank; i++) {
      let j = index[i] - pads[i];
      const d = x.dims[i];
      if (j < 0 || j >= d) {
        if (mode === "constant" || d === 0) outside = true;
        else if (mode === "edge") j = j < 0 ? 0 : d - 1;
        else {
          // Reflect about the first and last element (not repeating them); a period of 2(d − 1).
          const period = 2 * (d - 1);
          j = period === 0 ? 0 : ((j % period) + period) % period;
          if (j >= d) j = period - j;
        }
      }
      at += j * inStrides[i];
    }
    out[o] = outside ? value : x.data[at];
    for (let i = rank - 1; i >= 0; i--) {
      if (++index[i] < dims[i]) break;
      index[i] = 0;
    }
  }
  return { dims, data: out };
}
