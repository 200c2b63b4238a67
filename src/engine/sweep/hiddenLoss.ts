/**
 * The loss of zero ablations at a site one hidden ReLU layer before the output layer (mlp100x3's h1), for k = 10
 * classes, from cached values: no pass through onnxruntime. Zeroing units U of the site moves the hidden layer's
 * pre-activations p by −Σ_{u∈U} v_u (v_u = h_u·W_next[:,u]) and the logits by W_out·(relu(p') − relu(p)). Split
 * that as a linear part and corrections: were no hidden unit to change sign, the logits would drop by
 * lin_U = Σ_u lin_u, lin_u = W_out·(v_u ⊙ [p > 0]); each hidden unit m whose sign U flips adds a correction along
 * W_out[:,m] (t = p_m − Σ_u v_u,m: +t·W_out[:,m] to the drop where p_m > 0 ≥ t, −t·W_out[:,m] where t > 0 ≥ p_m).
 * Only units where one of U's contributions is at least half of |p_m| with the sign that moves it toward 0 can
 * flip for a pair, so a pair's flips are found among its two units' candidate lists (~4 of mlp100x3's 100 hidden
 * units each), each candidate tested against every partner at once (hiddenRows.wat).
 *
 * As in the closed form at the last hidden layer (closedFormLoss.ts): a pair's summed loss change is its singles'
 * sums (each over the samples where that unit is active) plus, over the samples where both are, log q_ij + the label
 * terms, q_ij = S_ij / (S_i·S_j), S = Σ_c p_c·exp(−drop_c) with the intact softmax p, so that per pair row only the
 * exponentials of the corrections are taken (S_ij = Σ_c p_c·exp(−lin_i,c)·exp(−lin_j,c)·exp(−e_c)), in float64 from
 * the intact float32 pre-activations. The rows run in WebAssembly SIMD (hiddenRows.wat), with fdlibm's exp as
 * pairRowsKernel.ts. The same cached values give every row's new logits in float64 (z − drop): given the intact
 * predictions, the kernel also lists the single and pair rows whose prediction is not clearly the intact one, with the
 * new prediction where that is clear (DECISION_MARGIN), so that the sweep's predictions evaluate only the unclear rows
 * (withHiddenLoss in denseSweep.ts). The dense sweep takes this path for a sweep of pairs with loss (hiddenLossFits);
 * where WebAssembly SIMD is missing or k ≠ 10 (hiddenLossAvailable), and for other conditions, every row where a unit
 * is active runs through onnxruntime instead (denseTail.ts). On mlp100x3's h1: ~120 ns per pair row on one core of
 * this project's 2-core machine, against ~250 through onnxruntime (bench/hidden-loss-check.mjs).
 */
import { HIDDEN_ROWS_WASM } from "./hiddenRowsWasm.js";
import type { PairCandidates } from "./types.js";
import { instanceWithMemory, placeArrays } from "./wasmMemory.js";

/** The hidden layer between the site and the output layer, for closedFormLoss's input. */
export interface HiddenLayer {
  /** [n × width] the hidden layer's intact pre-activations. */
  next: Float32Array;
  /** [width × units] W_next: the site's units into the hidden layer. */
  weight: Float64Array;
  width: number;
}

/** What hiddenLossSums needs of closedFormLoss's input: `weight` is W_out [k × width]. */
export interface HiddenLossInput {
  values: Float32Array;
  weight: Float64Array;
  labels: Int32Array;
  k: number;
  units: number;
  hidden: HiddenLayer;
  /** [n × k] the intact logits (with `predictions`: each row's new logits are these less its drop). */
  logits: Float32Array;
  /** The intact predictions: where given, the single and pair rows whose prediction may differ from them are listed (`candidates`). */
  predictions?: Int32Array;
}

/**
 * A single or pair row's prediction is clearly its top class t (z' its new logits from cached values) where
 * z'_t − z'_c > DECISION_MARGIN·(|z'_t| + |z'_c| + 1) for every other class c. Ten times the near-tie margin
 * (logits.ts, TIE_MARGIN: a top-2 margin below 1e-4·max(|top|, |runner-up|, 1) is re-decided in float64), so that what
 * separates these float64 logits of float32 cached values from the float32 tail's logits and from the float64
 * network's (float32 rounding, ~1e-6 of the terms) can never make the sweep decide such a row otherwise, or see a near
 * tie in it.
 */
const DECISION_MARGIN = 1e-3;

let compiled: WebAssembly.Module | null | undefined;

/** The kernel's memory at most: ~1,300 units at the site (its pair rows take 172 bytes each, its pair cells 16). */
const KERNEL_BYTES = 160 * 2 ** 20;

/**
 * Whether hiddenLossSums can run here for k classes, a site of `units` units and a hidden layer `width` wide
 * (WebAssembly SIMD, k = 10, its memory within KERNEL_BYTES).
 */
export function hiddenLossAvailable(k: number, units: number, width: number): boolean {
  return k === 10 && placeArrays(kernelArrays(units, width)).end <= KERNEL_BYTES && moduleOf() !== null;
}

/**
 * The kernel's arrays and their sizes in bytes, for a site of `units` units and a hidden layer `width` wide. `even` is
 * the width rounded up to even, `stride` the units rounded up to even: the rows of the hidden-unit-major copies, one
 * lane per active unit in whole pairs of lanes. Pair rows (acc, ex, flags) are numbered x < y.
 */
function kernelArrays(units: number, width: number) {
  const even = width + (width % 2);
  const stride = units + (units % 2);
  const pairRows = (units * (units - 1)) / 2;
  return {
    columns: units * even * 8,
    rows: even * 80,
    p: even * 8,
    pi: 80,
    active: units * 4,
    h: units * 8,
    v: units * even * 8,
    candidates: units * even * 4,
    counts: units * 4,
    a: units * 80,
    b: units * 80,
    sums: units * 8,
    dLabel: units * 8,
    linLabel: units * 8,
    products: units * units * 8,
    logs: units * units * 8,
    scratch: 80,
    vt: even * stride * 8,
    cmask: even * stride * 8,
    acc: pairRows * 80,
    ex: pairRows * 80,
    lin: units * 80,
    z: 80,
    pick: pairRows * 4,
    classes: pairRows * 4,
    upick: units * 4,
    uclasses: units * 4,
    list: (stride + 2) * 4,
    starts: units * 4,
    flags: pairRows * 4,
  };
}

function moduleOf(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(HIDDEN_ROWS_WASM, "base64"));
      // Instantiating checks that the runtime takes the SIMD instructions too.
      new WebAssembly.Instance(compiled, { js: { log: Math.log } });
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * Per unit of `used`, its single's summed loss change over the samples where it is active; per pair i < j of used
 * units (all of them where `pairs`; every pair of the sample's active used units is computed), Σ over the samples
 * where both are active of the pair's change less its singles'. `p` is the intact softmax [n × k]. Returns
 * { singles [units], pairs [units × units] (row i, column j > i), rows }. Throws an Error where
 * hiddenLossAvailable is false (the caller checks).
 */
export function hiddenLossSums(input: HiddenLossInput, p: Float64Array, used: Uint8Array, pairs: boolean): { singles: Float64Array; pairs: Float64Array; rows: number; candidates: PairCandidates | null } {
  const { values, labels, units, k } = input;
  const { next, width } = input.hidden;
  const compiledModule = moduleOf();
  if (k !== 10 || compiledModule === null) throw new Error("hiddenLossSums needs WebAssembly SIMD and k = 10");
  const n = labels.length;
  const even = width + (width % 2);
  const stride = units + (units % 2);
  const { at, end } = placeArrays(kernelArrays(units, width));
  if (end > 2 ** 31) throw new Error("hiddenLossSums: the layers are too wide for 32-bit addresses");
  const { exports: raw, buffer } = instanceWithMemory(compiledModule, { js: { log: Math.log } }, end);
  const exports = raw as unknown as {
    unitsTen(...args: number[]): number;
    pairsTen(...args: number[]): number;
  };
  const f64 = (offset: number, length: number) => new Float64Array(buffer, offset, length);
  const columns = f64(at.columns, units * even);
  const nextWeight = input.hidden.weight;
  for (let u = 0; u < units; u++) for (let m = 0; m < width; m++) columns[u * even + m] = nextWeight[m * units + u];
  const rowsOut = f64(at.rows, even * 10);
  for (let m = 0; m < width; m++) for (let c = 0; c < 10; c++) rowsOut[m * 10 + c] = input.weight[c * width + m];
  const hiddenP = f64(at.p, even);
  const pi = f64(at.pi, 10);
  const active = new Int32Array(buffer, at.active, units);
  const h = f64(at.h, units);
  const sums = f64(at.sums, units);
  const dLabel = f64(at.dLabel, units);
  const products = f64(at.products, units * units).fill(1);
  const logs = f64(at.logs, units * units);
  const singles = new Float64Array(units);
  const z = f64(at.z, 10);
  const pick = new Int32Array(buffer, at.pick, (units * (units - 1)) / 2);
  const pickClasses = new Int32Array(buffer, at.classes, (units * (units - 1)) / 2);
  const upick = new Int32Array(buffer, at.upick, units);
  const uclasses = new Int32Array(buffer, at.uclasses, units);
  const predictions = pairs ? input.predictions : undefined;
  let cells: Int32Array<ArrayBuffer> = new Int32Array(predictions ? 1 << 16 : 0);
  let samples: Int32Array<ArrayBuffer> = new Int32Array(cells.length);
  let classes: Int32Array<ArrayBuffer> = new Int32Array(cells.length);
  let picked = 0;
  const ensure = (more: number) => {
    if (picked + more <= cells.length) return;
    const size = Math.max(2 * cells.length, picked + more);
    cells = grown(cells, size);
    samples = grown(samples, size);
    classes = grown(classes, size);
  };
  let rows = 0;
  for (let s = 0; s < n; s++) {
    let count = 0;
    for (let u = 0; u < units; u++) {
      const value = values[s * units + u];
      if (!(value > 0) || used[u] === 0) continue;
      active[count] = u;
      h[count++] = value;
    }
    if (count === 0) continue;
    for (let m = 0; m < width; m++) hiddenP[m] = next[s * width + m];
    pi.set(p.subarray(s * 10, s * 10 + 10));
    const label = labels[s];
    if (predictions) for (let c = 0; c < 10; c++) z[c] = input.logits[s * 10 + c];
    const top = predictions ? predictions[s] : -1;
    const alone = exports.unitsTen(count, even, label, at.columns, at.rows, at.p, at.pi, at.active, at.h, at.v, at.candidates, at.counts, at.a, at.b, at.sums, at.dLabel, at.linLabel, at.scratch, at.vt, at.cmask, stride, at.lin, at.z, top, DECISION_MARGIN, at.upick, at.uclasses);
    for (let x = 0; x < count; x++) singles[active[x]] += Math.log(sums[x]) + dLabel[x];
    rows += count;
    // The singles' picks first (cell u·units + u), then the pairs': the lists stay in sample order.
    if (alone > 0) {
      ensure(alone);
      for (let r = 0; r < alone; r++) {
        const u = active[upick[r]];
        cells[picked] = u * units + u;
        samples[picked] = s;
        classes[picked++] = uclasses[r];
      }
    }
    if (!pairs || count < 2) continue;
    const found = exports.pairsTen(count, even, label, units, at.rows, at.p, at.active, at.v, at.candidates, at.counts, at.a, at.b, at.sums, at.dLabel, at.linLabel, at.products, at.logs, at.vt, at.cmask, stride, at.acc, at.ex, at.list, at.starts, at.flags, at.lin, at.z, top, DECISION_MARGIN, at.pick, at.classes);
    rows += (count * (count - 1)) / 2;
    if (found === 0) continue;
    ensure(found);
    cells.set(pick.subarray(0, found), picked);
    classes.set(pickClasses.subarray(0, found), picked);
    samples.fill(s, picked, picked + found);
    picked += found;
  }
  const pairSums = new Float64Array(units * units);
  for (let cell = 0; cell < units * units; cell++) pairSums[cell] = logs[cell] + Math.log(products[cell]);
  return { singles, pairs: pairSums, rows, candidates: predictions ? { cells: cells.slice(0, picked), samples: samples.slice(0, picked), classes: classes.slice(0, picked) } : null };
}

function grown(array: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(size);
  next.set(array);
  return next;
}
