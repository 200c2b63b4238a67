/**
 * The fast exact sweep for dense chains (MLPs with ReLU). Every number is exact; only work that provably cannot
 * change an answer is skipped:
 * 1. One intact forward pass caches every layer's pre-activation. Zeroing units of layer l changes nothing on a
 *    sample where none of them is active, so only (condition, sample) rows with an active unit are evaluated.
 * 2. An evaluated row starts from the cached pre-activation of layer l+1 minus a rank-|U| correction
 *    Σ_u h_u·W_{l+1}[:,u] and runs only the layers after it (batched through onnxruntime); where l feeds the output
 *    layer, the new logits are that correction alone (closed form, no GEMM).
 * 3. Without loss, a row is skipped when a bound on how far the ablation can move any gap z_t − z_c stays below the
 *    intact margin: exactly h_u·(W_out[t,u] − W_out[c,u]) for the last hidden layer, and through absolute weights
 *    for earlier layers (ReLU is 1-Lipschitz and monotone). The margin is taken with slack (0.999·m − 1e-5) so
 *    rounding never prunes a row that could flip.
 * 4. float32 decides unless its top two logits nearly tie (src/engine/sweep/logits.ts); those rows, and the intact
 *    network's own near ties, are recomputed in float64 from the input.
 * Algorithm and measurements: shared note "fast-exact-sweep"; benchmark: bench/ablation.ts.
 */
import { fail } from "../../errors.js";
import { buildClassifier, type LayerSpec } from "../../onnx/build.js";
import type { DenseChain } from "../../onnx/chain.js";
import { withOutputs } from "../../onnx/surgery.js";
import type { SweepOutcome, SweepResult } from "../maskedSweep.js";
import { getSession, type LesionModel } from "../model.js";
import { OrtTensor } from "../ort.js";
import { crossEntropy, decide } from "./logits.js";

export interface DenseIntact {
  n: number;
  /** Per layer: [n, out] pre-activations (float32, as onnxruntime computes them); the last is the logits. */
  pre: Float32Array[];
  /** float64-exact intact predictions. */
  predictions: Int32Array;
  /** z_t − max_{c≠t} z_c of the float32 logits, t the exact prediction (negative when float32 disagrees). */
  margin: Float64Array;
  /** Per-sample cross-entropy of the float32 logits. */
  loss: Float64Array;
  correctPerClass: number[];
  lossSum: number;
  rowsFloat64: number;
}

export interface DenseSweepInput {
  model: LesionModel;
  chain: DenseChain;
  /** Index into chain.layers of the layer whose output units are ablated. */
  siteLayer: number;
  /** n × chain.layers[0].in network inputs, already preprocessed. */
  inputs: Float32Array;
  labels: Int32Array;
  /** Unit sets to zero at the site layer's output, one per condition. */
  conditions: number[][];
  /** Compute each condition's loss (every active row is then evaluated). */
  loss: boolean;
  /** The intact pass from `denseIntact`, to share it between calls on the same inputs. */
  intact?: DenseIntact;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

const INTACT_BATCH = 8192;
/** Rows per onnxruntime run of the layers after the site: 8-16k ran fastest (shared note). */
const CHUNK_ROWS = 12288;

export async function denseIntact(model: LesionModel, chain: DenseChain, inputs: Float32Array, labels: Int32Array): Promise<DenseIntact> {
  const layers = chain.layers;
  const width = layers[0].in;
  const n = inputs.length / width;
  const k = layers[layers.length - 1].out;
  const tensors = layers.map((l) => l.preActivation);
  const session = await getSession(model, "dense:intact", () => withOutputs(model.proto, tensors));
  const pre = layers.map((l) => new Float32Array(n * l.out));
  for (let start = 0; start < n; start += INTACT_BATCH) {
    const count = Math.min(INTACT_BATCH, n - start);
    const feed = new OrtTensor("float32", inputs.subarray(start * width, (start + count) * width), [count, ...model.inputShape]);
    const out = await session.run({ [model.inputName]: feed }, tensors);
    layers.forEach((l, i) => pre[i].set(out[l.preActivation].data as Float32Array, start * l.out));
  }
  const logits = pre[layers.length - 1];
  const predictions = new Int32Array(n);
  const margin = new Float64Array(n);
  const loss = new Float64Array(n);
  const correctPerClass = new Array<number>(k).fill(0);
  let lossSum = 0;
  let rowsFloat64 = 0;
  for (let s = 0; s < n; s++) {
    let { best, tied } = decide(logits, s * k, k);
    if (tied) {
      best = decide(forward64(chain, inputs, s, -1, [])).best;
      rowsFloat64++;
    }
    predictions[s] = best;
    let other = -Infinity;
    for (let c = 0; c < k; c++) if (c !== best && logits[s * k + c] > other) other = logits[s * k + c];
    margin[s] = logits[s * k + best] - other;
    loss[s] = crossEntropy(logits, labels[s], s * k, k);
    lossSum += loss[s];
    if (best === labels[s]) correctPerClass[best]++;
  }
  return { n, pre, predictions, margin, loss, correctPerClass, lossSum, rowsFloat64 };
}

export async function denseSweep(input: DenseSweepInput): Promise<SweepResult> {
  const started = performance.now();
  const { model, chain, siteLayer, inputs, labels, conditions } = input;
  const layers = chain.layers;
  const last = layers.length - 1;
  const site = layers[siteLayer];
  for (const units of conditions) for (const u of units) if (!(u >= 0 && u < site.out)) fail("unit-out-of-range", `unit ${u} is out of range for site ${site.name} (0..${site.out - 1})`, { site: site.name, unit: u });
  const intact = input.intact ?? (await denseIntact(model, chain, inputs, labels));
  const { n, predictions: intactPredictions, loss: intactLoss } = intact;
  const k = layers[last].out;
  const units = site.out;
  const siteValues = intact.pre[siteLayer];
  const outcomes = conditions.map((): Accumulator => ({ changed: [], correctDelta: new Array<number>(k).fill(0), lossDelta: 0 }));
  const stats = { rowsEvaluated: 0, rowsFloat64: intact.rowsFloat64, unresolvedTies: 0 };

  // Decides one evaluated row from its new logits (float32 or float64), re-deciding near ties in float64.
  const settle = (condition: number, sample: number, logits: ArrayLike<number>, from: number) => {
    stats.rowsEvaluated++;
    let { best, tied } = decide(logits, from, k);
    if (tied) {
      best = decide(forward64(chain, inputs, sample, siteLayer, conditions[condition])).best;
      stats.rowsFloat64++;
    }
    const outcome = outcomes[condition];
    if (input.loss) outcome.lossDelta += crossEntropy(logits, labels[sample], from, k) - intactLoss[sample];
    const before = intactPredictions[sample];
    if (best !== before) {
      outcome.changed.push(sample, best);
      const label = labels[sample];
      if (before === label) outcome.correctDelta[label]--;
      if (best === label) outcome.correctDelta[label]++;
    }
  };

  if (siteLayer === last) {
    // Ablating logits: z_u := 0. Every row may change; the work per row is |U| + K.
    const row = new Float64Array(k);
    conditions.forEach((unitsOf, c) => {
      checkAborted(input.signal);
      const logits = intact.pre[last];
      for (let s = 0; s < n; s++) {
        if (!unitsOf.some((u) => logits[s * k + u] !== 0)) continue;
        for (let j = 0; j < k; j++) row[j] = logits[s * k + j];
        for (const u of unitsOf) row[u] = 0;
        settle(c, s, row, 0);
      }
      input.onProgress?.(c + 1, conditions.length);
    });
    return finish(intact, outcomes, stats, input.loss, started);
  }

  const ratio = boundRatios(chain, siteLayer, intact);
  const candidates = candidateLists(siteValues, units, n, ratio);
  const stamp = new Int32Array(n);
  const next = layers[siteLayer + 1];
  const nextPre = intact.pre[siteLayer + 1];

  // Rows a condition must evaluate: any active unit (with loss), else those whose summed bound reaches the margin.
  const rowsOf = (unitsOf: number[], c: number): Int32Array => {
    const threshold = input.loss ? 0 : 1 / unitsOf.length;
    const rows: number[] = [];
    for (const u of unitsOf) {
      const list = candidates[u];
      const end = input.loss ? list.rows.length : prefixAtLeast(list.ratio, threshold);
      for (let i = 0; i < end; i++) {
        const s = list.rows[i];
        if (stamp[s] === c + 1) continue;
        stamp[s] = c + 1;
        if (!input.loss && unitsOf.length > 1) {
          let sum = 0;
          for (const v of unitsOf) sum += ratio(s, v);
          if (sum < 1) continue;
        }
        rows.push(s);
      }
    }
    return Int32Array.from(rows);
  };

  if (siteLayer + 1 === last) {
    // Closed form: the new logits are the cached ones minus Σ_u h_u·W_out[:,u].
    const row = new Float64Array(k);
    const w = next.weight;
    conditions.forEach((unitsOf, c) => {
      checkAborted(input.signal);
      for (const s of rowsOf(unitsOf, c)) {
        for (let j = 0; j < k; j++) row[j] = nextPre[s * k + j];
        for (const u of unitsOf) {
          const h = siteValues[s * units + u];
          if (h > 0) for (let j = 0; j < k; j++) row[j] -= h * w[j * units + u];
        }
        settle(c, s, row, 0);
      }
      input.onProgress?.(c + 1, conditions.length);
    });
    return finish(intact, outcomes, stats, input.loss, started);
  }

  // General case: corrected pre-activations of layer l+1 go through the remaining layers in batched runs.
  const session = await getSession(model, `dense:from:${siteLayer + 1}`, () => tailModel(chain, siteLayer + 1));
  const width = next.out;
  const buffer = new Float32Array(CHUNK_ROWS * width);
  const rowCondition = new Int32Array(CHUNK_ROWS);
  const rowSample = new Int32Array(CHUNK_ROWS);
  const correction = new Float64Array(width);
  let filled = 0;
  let queued = 0;
  const flush = async () => {
    if (filled === 0) return;
    checkAborted(input.signal);
    const out = await session.run({ input: new OrtTensor("float32", buffer.subarray(0, filled * width), [filled, width]) });
    const logits = out.logits.data as Float32Array;
    for (let r = 0; r < filled; r++) settle(rowCondition[r], rowSample[r], logits, r * k);
    filled = 0;
    input.onProgress?.(queued, conditions.length);
  };
  for (let c = 0; c < conditions.length; c++) {
    const unitsOf = conditions[c];
    for (const s of rowsOf(unitsOf, c)) {
      correction.fill(0);
      for (const u of unitsOf) {
        const h = siteValues[s * units + u];
        if (h > 0) for (let j = 0; j < width; j++) correction[j] += h * next.weight[j * units + u];
      }
      const at = filled * width;
      for (let j = 0; j < width; j++) buffer[at + j] = nextPre[s * width + j] - correction[j];
      rowCondition[filled] = c;
      rowSample[filled] = s;
      if (++filled === CHUNK_ROWS) await flush();
    }
    queued = c + 1;
  }
  await flush();
  return finish(intact, outcomes, stats, input.loss, started);
}

interface Accumulator {
  /** (sample, new prediction) pairs, flattened. */
  changed: number[];
  correctDelta: number[];
  lossDelta: number;
}

function finish(intact: DenseIntact, outcomes: Accumulator[], stats: Omit<SweepResult["stats"], "seconds">, loss: boolean, started: number): SweepResult {
  return {
    intact: { predictions: intact.predictions, correctPerClass: intact.correctPerClass, lossSum: intact.lossSum },
    conditions: outcomes.map((o): SweepOutcome => {
      const order = Array.from({ length: o.changed.length / 2 }, (_, i) => i).sort((a, b) => o.changed[2 * a] - o.changed[2 * b]);
      return {
        correctPerClass: intact.correctPerClass.map((c, j) => c + o.correctDelta[j]),
        changed: Int32Array.from(order, (i) => o.changed[2 * i]),
        changedPredictions: Int32Array.from(order, (i) => o.changed[2 * i + 1]),
        lossSum: loss ? intact.lossSum + o.lossDelta : null,
      };
    }),
    stats: { ...stats, seconds: (performance.now() - started) / 1000 },
  };
}

/**
 * ratio(s, u): an upper bound on how far zeroing unit u moves sample s's gaps z_t − z_c, over the margin with slack;
 * a set of units can flip s only if their ratios sum to ≥ 1. Infinity where the margin leaves no room.
 */
function boundRatios(chain: DenseChain, siteLayer: number, intact: DenseIntact): (s: number, u: number) => number {
  const layers = chain.layers;
  const last = layers.length - 1;
  const out = layers[last];
  const k = out.out;
  const units = layers[siteLayer].out;
  // bound[t·units + u]: per unit activation, the largest move of any gap z_t − z_c.
  const bound = new Float64Array(k * units);
  if (siteLayer + 1 === last) {
    for (let t = 0; t < k; t++) {
      for (let u = 0; u < units; u++) {
        let max = 0;
        for (let c = 0; c < k; c++) if (c !== t) max = Math.max(max, out.weight[t * units + u] - out.weight[c * units + u]);
        bound[t * units + u] = max;
      }
    }
  } else {
    for (let t = 0; t < k; t++) {
      for (let c = 0; c < k; c++) {
        if (c === t) continue;
        // |W_out[t] − W_out[c]|, then back through |W_j| down to the site layer.
        let g: Float64Array = new Float64Array(out.in);
        for (let i = 0; i < out.in; i++) g[i] = Math.abs(out.weight[t * out.in + i] - out.weight[c * out.in + i]);
        for (let j = last - 1; j > siteLayer; j--) {
          const layer = layers[j];
          const back = new Float64Array(layer.in);
          for (let o = 0; o < layer.out; o++) {
            const go = g[o];
            if (go === 0) continue;
            for (let i = 0; i < layer.in; i++) back[i] += go * Math.abs(layer.weight[o * layer.in + i]);
          }
          g = back;
        }
        for (let u = 0; u < units; u++) bound[t * units + u] = Math.max(bound[t * units + u], g[u]);
      }
    }
  }
  const values = intact.pre[siteLayer];
  const slack = Float64Array.from(intact.margin, (m) => 0.999 * m - 1e-5);
  return (s, u) => {
    const h = values[s * units + u];
    if (!(h > 0)) return 0;
    const room = slack[s];
    return room <= 0 ? Infinity : (h * bound[intact.predictions[s] * units + u]) / room;
  };
}

/** Per unit: the samples on which it is active, by bound ratio, largest first. */
function candidateLists(values: Float32Array, units: number, n: number, ratio: (s: number, u: number) => number): Array<{ rows: Int32Array; ratio: Float64Array }> {
  const counts = new Int32Array(units);
  for (let s = 0; s < n; s++) for (let u = 0; u < units; u++) if (values[s * units + u] > 0) counts[u]++;
  return Array.from({ length: units }, (_, u) => {
    const rows = new Int32Array(counts[u]);
    let at = 0;
    for (let s = 0; s < n; s++) if (values[s * units + u] > 0) rows[at++] = s;
    const r = Float64Array.from(rows, (s) => ratio(s, u));
    const order = Array.from(rows.keys()).sort((a, b) => r[b] - r[a]);
    return { rows: Int32Array.from(order, (i) => rows[i]), ratio: Float64Array.from(order, (i) => r[i]) };
  });
}

/** Length of the prefix of a descending list whose values are ≥ threshold. */
function prefixAtLeast(sorted: Float64Array, threshold: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] >= threshold) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The layers after `from`'s pre-activation: ReLU, then the remaining Linear/ReLU layers, as one graph. */
function tailModel(chain: DenseChain, from: number) {
  const layers: LayerSpec[] = [];
  for (let j = from; j < chain.layers.length; j++) {
    const layer = chain.layers[j];
    if (j > from) layers.push({ op: "linear", name: `layer${j}`, weight: Float32Array.from(layer.weight), shape: [layer.out, layer.in], bias: layer.bias ? Float32Array.from(layer.bias) : null });
    if (layer.activation === "relu") layers.push({ op: "relu" });
  }
  return buildClassifier({ layers, inputShape: [chain.layers[from].out] });
}

/** The whole chain in float64 from the (float32) input, with `units` of layer `siteLayer` zeroed after it. */
export function forward64(chain: DenseChain, inputs: Float32Array, sample: number, siteLayer: number, units: readonly number[]): Float64Array {
  const width = chain.layers[0].in;
  let x = Float64Array.from(inputs.subarray(sample * width, (sample + 1) * width));
  chain.layers.forEach((layer, j) => {
    const y = new Float64Array(layer.out);
    for (let o = 0; o < layer.out; o++) {
      let sum = layer.bias ? layer.bias[o] : 0;
      const row = o * layer.in;
      for (let i = 0; i < layer.in; i++) sum += layer.weight[row + i] * x[i];
      y[o] = layer.activation === "relu" ? Math.max(sum, 0) : sum;
    }
    if (j === siteLayer) for (const u of units) y[u] = 0;
    x = y;
  });
  return x;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail("aborted", "run aborted");
}
