/**
 * The loss of zero ablations at a site that feeds the output layer, in closed form (src/engine/sweep/denseSweep.ts).
 * Zeroing units U there moves the logits of sample s by d_c = Σ_{u∈U} h_u·W_out[c,u] (z'_c = z_c − d_c), so with the
 * intact softmax p_c the new cross-entropy differs from the intact one by
 *   ΔL = log Σ_c p_c·exp(−d_c) + d_label,
 * computed in float64 from the intact float32 logits and activations: k exponentials and one logarithm per row, no
 * GEMM. Only rows where a unit of U is active are computed (elsewhere d = 0 and ΔL = 0).
 *
 * Pairs (the long sweeps) run sample by sample: per active unit u, its factors f_u,c = exp(−h_u·W_out[c,u]) and
 * G_u = Σ_c p_c·f_u,c give the single's ΔL_u = log G_u + h_u·W_out[label,u]; a pair (i, j) active on the sample
 * adds ΔL_ij − ΔL_i − ΔL_j = log q_ij, q_ij = Σ_c p_c·f_i,c·f_j,c / (G_i·G_j): k multiply-adds per pair row. A
 * pair's summed ΔL is its singles' sums (over every sample where each is active) plus Σ log q_ij over the samples
 * where both are. (A batched onnxruntime graph for q, float32 or float64, ran slower than this loop here.) For
 * k = 10 the factors and the pair rows run in WebAssembly SIMD (pairRowsKernel.ts); other k in the JS loops below.
 */
import { dot } from "./dot.js";
import { hiddenLossSums, type HiddenLayer } from "./hiddenLoss.js";
import { pairRowsKernel } from "./pairRowsKernel.js";
import type { PairCandidates, PairLossCache } from "./types.js";

export interface ClosedFormLossInput {
  /** [n × k] intact logits. */
  logits: Float32Array;
  /** [n × units] the site's pre-activations (a unit is active where > 0; its activation is then this value). */
  values: Float32Array;
  /** [k × units] the output layer's weight; [k × hidden.width] where `hidden` is given. */
  weight: Float64Array;
  /**
   * The hidden ReLU layer between the site and the output layer, where the site does not feed the output layer
   * directly (hiddenLoss.ts): then only singles and a sweep of pairs may be asked for (hiddenLossFits).
   */
  hidden?: HiddenLayer;
  labels: Int32Array;
  /**
   * The intact predictions, for a hidden layer's sweep of pairs (`hidden`): its kernel then also lists the pair rows
   * and single rows whose prediction may differ from these (ClosedFormLoss.candidates), so that the predictions evaluate
   * only those.
   */
  predictions?: Int32Array;
  /** Unit sets zeroed at the site, one per condition. */
  conditions: number[][];
  k: number;
  units: number;
  /**
   * Single and pair sums kept between calls on the same intact pass and site (the blocks of one sweep): a call whose
   * singles and pairs it covers computes nothing again.
   */
  cache?: PairLossCache;
}

export interface ClosedFormLoss {
  /** Per condition: Σ over samples of (ablated − intact) cross-entropy. */
  deltas: Float64Array;
  /** (condition, sample) rows whose loss was computed. */
  rows: number;
  /** With `predictions` (a hidden layer's sweep of pairs): every single and pair row of the used units that may change its prediction. */
  candidates?: PairCandidates | null;
}

/**
 * Per condition, the change of the summed softmax cross-entropy (natural log) when its units are zeroed at a site
 * whose output layer is `weight`. Throws nothing: units are checked by the caller.
 */
export function closedFormLoss(input: ClosedFormLossInput): ClosedFormLoss {
  const { conditions, units } = input;
  const deltas = new Float64Array(conditions.length);
  // The intact softmax, made only where a sum is computed (not for blocks whose sums the cache holds).
  let softmax: Float64Array | null = null;
  const probabilities = () => (softmax ??= softmaxOf(input.logits, input.values.length / units, input.k));
  const pairs: number[] = [];
  const others: number[] = [];
  // Pairs go sample by sample only as a sweep (more pairs than units among them): its loop visits every active pair
  // of a sample, which a few pairs of a wide layer would not repay. Singles always do (no pair loop without pairs).
  const sweep = isPairSweep(conditions);
  // Pairs whose sums an earlier call kept (the later blocks of a sweep) are read from them.
  const cache = input.cache;
  const kept = (c: number[]) => cache?.pairs != null && c.every((u) => cache.units![u] === 1);
  conditions.forEach((c, i) => (c.length === 1 || (isPair(c) && (sweep || kept(c))) ? pairs : others).push(i));
  if (input.hidden && others.length > 0) throw new Error("closedFormLoss: a hidden layer's loss takes singles and a sweep of pairs only");
  let rows = 0;
  let candidates: PairCandidates | null = null;
  if (pairs.length > 0) ({ rows, candidates } = pairLosses(input, probabilities, pairs, deltas));
  if (others.length > 0) rows += groupLosses(input, probabilities, others, deltas);
  return { deltas, rows, candidates };
}

/** A condition of two distinct units. */
export function isPair(units: number[]): boolean {
  return units.length === 2 && units[0] !== units[1];
}

/** Whether the pairs among `conditions` are a sweep: some pairs, at least as many as the units among them. */
export function isPairSweep(conditions: number[][]): boolean {
  const pairs = conditions.filter(isPair);
  return pairs.length > 0 && pairs.length >= new Set(pairs.flat()).size;
}

/** [n × k] intact softmax in float64. */
function softmaxOf(logits: Float32Array, n: number, k: number): Float64Array {
  const p = new Float64Array(n * k);
  for (let s = 0; s < n; s++) {
    const at = s * k;
    let max = -Infinity;
    for (let c = 0; c < k; c++) if (logits[at + c] > max) max = logits[at + c];
    let sum = 0;
    for (let c = 0; c < k; c++) sum += p[at + c] = Math.exp(logits[at + c] - max);
    for (let c = 0; c < k; c++) p[at + c] /= sum;
  }
  return p;
}

/**
 * Pair and single conditions (indices into input.conditions), sample by sample; returns the rows computed. The
 * factors q (per pair row) and G (per single row) are multiplied up per condition in float64 and their logarithm
 * taken only when the product could leave float64's range: a logarithm per many rows instead of one per row.
 */
function pairLosses(input: ClosedFormLossInput, probabilities: () => Float64Array, which: number[], deltas: Float64Array): { rows: number; candidates: PairCandidates | null } {
  const { conditions, units } = input;
  const cache = input.cache;
  const covered = (u: number) => cache?.units?.[u] === 1;
  const hit = which.every((c) => conditions[c].every(covered) && (conditions[c].length === 1 || cache!.pairs !== null));
  let rows = 0;
  let singleSums = cache?.singles ?? null;
  let pairSums = cache?.pairs ?? null;
  let candidates = cache?.candidates ?? null;
  // The cache holds every pair asked for but not every single: a later block of a sweep resumed after its first
  // pairs (its first block covered only the units of the pairs left), whose singles are computed here alone, not
  // every pair again (on mlp100x3's h1 that recomputation had made a resumed run slower than a fresh one).
  const pairsKept = !hit && cache?.pairs != null && which.every((c) => conditions[c].length === 1 || conditions[c].every(covered));
  // Singles of `used` and, with `wanted`, its pairs (a hidden layer's kernel takes every pair of the used units).
  const sumsOf = (used: Uint8Array, wanted: Uint8Array | null): { singles: Float64Array; pairs: Float64Array; rows: number; candidates?: PairCandidates | null } =>
    input.hidden ? hiddenLossSums({ ...input, hidden: input.hidden }, probabilities(), used, wanted !== null) : lossSums(input, probabilities(), used, wanted);
  if (pairsKept) {
    const used = new Uint8Array(units);
    for (const c of which) if (conditions[c].length === 1 && !covered(conditions[c][0])) used[conditions[c][0]] = 1;
    const sums = sumsOf(used, null);
    rows = sums.rows;
    singleSums = Float64Array.from(cache.singles!);
    for (let u = 0; u < units; u++) if (used[u] === 1) singleSums[u] = sums.singles[u];
  } else if (!hit) {
    const used = new Uint8Array(units);
    const wanted = new Uint8Array(units * units);
    let pairCount = 0;
    for (const c of which) {
      const [a, b] = conditions[c];
      used[a] = 1;
      if (b === undefined) continue;
      wanted[a < b ? a * units + b : b * units + a] = used[b] = 1;
      pairCount++;
    }
    // A sweep of many pairs (more than units among them) takes every pair of its units at once, for later calls.
    const unitCount = used.reduce((sum, x) => sum + x, 0);
    const all = pairCount >= unitCount;
    if (all) for (let i = 0; i < units; i++) for (let j = i + 1; j < units; j++) wanted[i * units + j] = used[i] & used[j];
    const sums = sumsOf(used, pairCount > 0 ? wanted : null);
    rows = sums.rows;
    singleSums = sums.singles;
    pairSums = sums.pairs;
    candidates = sums.candidates ?? null;
    if (cache && (all || pairCount === 0)) {
      cache.units = used;
      cache.singles = sums.singles;
      cache.pairs = pairCount > 0 ? sums.pairs : null;
      cache.candidates = candidates;
    }
  }
  for (const c of which) {
    const [i, j] = conditions[c];
    if (j === undefined) deltas[c] = singleSums![i];
    else deltas[c] = singleSums![i] + singleSums![j] + pairSums![i < j ? i * units + j : j * units + i];
  }
  return { rows, candidates };
}

/** Per unit of `used`, its single's summed ΔL; per pair of `wanted` (i < j), Σ log q_ij over the samples where both are active. */
function lossSums(input: ClosedFormLossInput, p: Float64Array, used: Uint8Array, wanted: Uint8Array | null): { singles: Float64Array; pairs: Float64Array; rows: number } {
  const { values, weight, labels, k, units } = input;
  const n = values.length / units;
  // k = 10 (MNIST, CIFAR-10): the factors and the pair rows run in WebAssembly SIMD (pairRowsKernel.ts), on arrays in
  // its memory; other k (and where WebAssembly SIMD is missing) in JS, the same arithmetic.
  const kernel = k === 10 ? pairRowsKernel(units) : null;
  // W_outᵀ: a unit's k weights side by side.
  const columns = kernel?.columns ?? new Float64Array(units * k);
  for (let c = 0; c < k; c++) for (let u = 0; u < units; u++) columns[u * k + c] = weight[c * units + u];
  const products = kernel?.products ?? new Float64Array(units * units).fill(1);
  const logs = new Float64Array(units * units);
  const singleProducts = new Float64Array(units).fill(1);
  const singleSums = new Float64Array(units);
  // A sweep wants every pair of its units: the pair loop then tests nothing per row.
  let complete = wanted !== null;
  for (let i = 0; complete && i < units; i++) for (let j = i + 1; j < units; j++) if (used[i] === 1 && used[j] === 1 && wanted![i * units + j] === 0) complete = false;
  // Per active unit of the current sample, in the order of `active`: its activation, a_x,c = f_u,c / G_u,
  // b_x,c = p_c·a_x,c (so q_ij = Σ_c b_i,c·a_j,c) and G_u; `bounds` the sample's smallest and largest a_x,c.
  const active = kernel?.active ?? new Int32Array(units);
  const activations = kernel?.activations ?? new Float64Array(units);
  const a = kernel?.a ?? new Float64Array(units * k);
  const b = kernel?.b ?? new Float64Array(units * k);
  const sums = kernel?.sums ?? new Float64Array(units);
  const bounds = kernel?.bounds ?? new Float64Array(2);
  const state = { active, activations, columns, p, pAt: 0, k, a, b, sums, bounds };
  const factors = kernel
    ? (count: number, pAt: number) => {
        kernel.probabilities.set(p.subarray(pAt, pAt + k));
        kernel.factors(count);
      }
    : (count: number, pAt: number) => {
        state.pAt = pAt;
        unitFactors(state, count);
      };
  // Every pair product lies in [low, high]: q_ij = Σ_c a_i,c·(p_c·a_j,c) is an average of a_i,c with weights
  // p_c·a_j,c that sum to 1 (Σ_c p_c·f_j,c = G_j), so it lies between the smallest and largest a_i,c. The products
  // are folded into their logarithms only when a sample could push them past [1e-250, 1e250], not tested row by row.
  let low = 1;
  let high = 1;
  let rows = 0;
  for (let s = 0; s < n; s++) {
    const at = s * units;
    const label = labels[s];
    let count = 0;
    for (let u = 0; u < units; u++) {
      const h = values[at + u];
      if (!(h > 0) || used[u] === 0) continue;
      active[count] = u;
      activations[count++] = h;
    }
    if (count === 0) continue;
    factors(count, s * k);
    for (let x = 0; x < count; x++) {
      const u = active[x];
      const sum = sums[x];
      singleSums[u] += activations[x] * columns[u * k + label];
      const product = singleProducts[u] * sum;
      if (product > 1e-100 && product < 1e100) singleProducts[u] = product;
      else {
        singleSums[u] += Math.log(singleProducts[u]) + Math.log(sum);
        singleProducts[u] = 1;
      }
    }
    const sampleLow = bounds[0];
    const sampleHigh = bounds[1];
    rows += count;
    if (!wanted || count < 2) continue;
    rows += (count * (count - 1)) / 2;
    // NaN or extreme factors (a logit moved by hundreds) take the loop that checks each product.
    const bounded = sampleLow > 1e-200 && sampleHigh < 1e200;
    if (bounded && (low * sampleLow < 1e-250 || high * sampleHigh > 1e250)) {
      for (let pair = 0; pair < units * units; pair++) {
        if (products[pair] === 1) continue;
        logs[pair] += Math.log(products[pair]);
        products[pair] = 1;
      }
      low = high = 1;
    }
    if (complete && bounded) {
      low *= sampleLow;
      high *= sampleHigh;
      if (kernel) kernel.run(count);
      else pairRows(a, b, active, count, units, k, products);
    } else rows -= checkedPairRows(a, b, active, count, units, k, wanted, products, logs);
  }
  for (let u = 0; u < units; u++) singleSums[u] += Math.log(singleProducts[u]);
  for (let pair = 0; pair < units * units; pair++) logs[pair] += Math.log(products[pair]);
  return { singles: singleSums, pairs: logs, rows };
}

/**
 * One sample's factors in JS (what pairRowsKernel's `factors` computes for k = 10): per active unit x (unit active[x],
 * activation activations[x]) f_c = exp(−h·W_out[c,u]), G = Σ_c p_c·f_c, a = f/G, b = p·f/G, sums[x] = G; bounds[0..1]
 * the smallest and largest a (NaN if any is NaN).
 */
function unitFactors(
  f: { active: Int32Array; activations: Float64Array; columns: Float64Array; p: Float64Array; pAt: number; k: number; a: Float64Array; b: Float64Array; sums: Float64Array; bounds: Float64Array },
  count: number,
): void {
  const { active, activations, columns, p, pAt, k, a, b, sums } = f;
  let low = Infinity;
  let high = 0;
  for (let x = 0; x < count; x++) {
    const h = activations[x];
    const col = active[x] * k;
    const at = x * k;
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp(-h * columns[col + c]);
      a[at + c] = e;
      sum += b[at + c] = p[pAt + c] * e;
    }
    sums[x] = sum;
    const inverse = 1 / sum;
    for (let c = 0; c < k; c++) {
      const ac = (a[at + c] *= inverse);
      b[at + c] *= inverse;
      low = ac < low || ac !== ac ? ac : low;
      high = ac > high || ac !== ac ? ac : high;
    }
  }
  f.bounds[0] = low;
  f.bounds[1] = high;
}

/** One sample's pair rows for any k (where the WebAssembly kernel does not run). */
function pairRows(a: Float64Array, b: Float64Array, active: Int32Array, count: number, units: number, k: number, products: Float64Array): void {
  for (let x = 0; x < count - 1; x++) {
    const i = x * k;
    const row = active[x] * units;
    for (let y = x + 1, j = i + k; y < count; y++, j += k) products[row + active[y]] *= dot(b, i, a, j, k);
  }
}

/**
 * One sample's pair rows where not every pair is wanted or a factor is extreme: each row's product is checked and
 * folded into its logarithm when it leaves [1e-100, 1e100]. Returns how many rows it skipped (pairs not wanted).
 */
function checkedPairRows(a: Float64Array, b: Float64Array, active: Int32Array, count: number, units: number, k: number, wanted: Uint8Array, products: Float64Array, logs: Float64Array): number {
  let skipped = 0;
  for (let x = 0; x < count - 1; x++) {
    const i = x * k;
    const row = active[x] * units;
    for (let y = x + 1, j = i + k; y < count; y++, j += k) {
      const pair = row + active[y];
      if (wanted[pair] === 0) {
        skipped++;
        continue;
      }
      let q = 0;
      for (let c = 0; c < k; c++) q += b[i + c] * a[j + c];
      const product = products[pair] * q;
      if (product > 1e-100 && product < 1e100) products[pair] = product;
      else {
        logs[pair] += Math.log(products[pair]) + Math.log(q);
        products[pair] = 1;
      }
    }
  }
  return skipped;
}

/** Any other conditions (singles, groups), condition by condition over the samples where a unit is active. */
function groupLosses(input: ClosedFormLossInput, probabilities: () => Float64Array, which: number[], deltas: Float64Array): number {
  const p = probabilities();
  const { values, weight, labels, conditions, k, units } = input;
  const n = values.length / units;
  const lists = new Map<number, Int32Array>();
  const listOf = (u: number) => {
    let list = lists.get(u);
    if (!list) {
      let count = 0;
      for (let s = 0; s < n; s++) if (values[s * units + u] > 0) count++;
      list = new Int32Array(count);
      count = 0;
      for (let s = 0; s < n; s++) if (values[s * units + u] > 0) list[count++] = s;
      lists.set(u, list);
    }
    return list;
  };
  const stamp = new Int32Array(n).fill(-1);
  const d = new Float64Array(k);
  let rows = 0;
  for (const c of which) {
    const unitsOf = [...new Set(conditions[c])];
    let delta = 0;
    for (const u0 of unitsOf) {
      for (const s of listOf(u0)) {
        if (stamp[s] === c) continue;
        stamp[s] = c;
        d.fill(0);
        for (const u of unitsOf) {
          const h = values[s * units + u];
          if (h > 0) for (let j = 0; j < k; j++) d[j] += h * weight[j * units + u];
        }
        // Shifted by the largest −d_c: a logit moved by hundreds would overflow exp(−d_c).
        let shift = -Infinity;
        for (let j = 0; j < k; j++) if (p[s * k + j] > 0 && -d[j] > shift) shift = -d[j];
        let r = 0;
        for (let j = 0; j < k; j++) r += p[s * k + j] * Math.exp(-d[j] - shift);
        delta += Math.log(r) + shift + d[labels[s]];
        rows++;
      }
    }
    deltas[c] = delta;
  }
  return rows;
}
