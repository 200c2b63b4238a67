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
 * 4. Without loss, a multi-unit condition on a sample where only one of its units is active equals that unit's single
 *    ablation there; the single's exact outcome is reused.
 * 5. float32 decides unless its top two logits nearly tie (src/engine/sweep/logits.ts); those rows, and the intact
 *    network's own near ties, are recomputed in float64 from the input.
 * Algorithm and measurements: shared note "fast-exact-sweep"; benchmark: bench/ablation.mjs.
 */
import { fail } from "../../errors.js";
import { buildClassifier, INPUT_NAME, type LayerSpec } from "../../onnx/build.js";
import { DataType, makeNode, makeTensor, makeValueInfo, type ModelProto } from "../../onnx/proto.js";
import type { DenseChain, DenseLayer } from "../../onnx/chain.js";
import { withOutputs } from "../../onnx/surgery.js";
import type { SweepOutcome, SweepResult } from "../maskedSweep.js";
import { getSession, type LesionModel } from "../model.js";
import { OrtTensor } from "../ort.js";
import { crossEntropy, decide, TIE_MARGIN } from "./logits.js";

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
  /** Per site layer: bound ratios and candidate lists, computed once and shared by every call on these inputs. */
  bounds: Map<number, LayerBounds>;
  /** float64 activations of every layer, for the samples rechecked so far. */
  exact: Map<number, Float64Array[]>;
}

interface LayerBounds {
  /**
   * [n × units]: an upper bound on how far zeroing the unit moves the sample's gaps z_t − z_c, over the margin with
   * slack; a set of units can flip the sample only if its ratios sum to ≥ 1. 0 exactly where the unit is inactive
   * (nothing changes), Infinity where the margin leaves no room.
   */
  ratio: Float32Array;
  /** Per threshold, per unit: ascending samples whose ratio is ≥ the threshold. */
  lists: Map<number, Int32Array[]>;
  /** Per unit ablated alone: its changed samples → new prediction (exact), for multi-unit conditions to reuse. */
  singles: Map<number, Map<number, number>>;
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
/** Bound on the gathered weight rows of one run (rows × units per condition × width × 4 bytes). */
const CHUNK_BYTES = 64 * 2 ** 20;
const SITE_INPUT = "site";
const NEXT_INPUT = "next";
const ROWS_INPUT = "rows";
const UNITS_INPUT = "units";
const WEIGHTS_INPUT = "weights";

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
  const exact = new Map<number, Float64Array[]>();
  for (let s = 0; s < n; s++) {
    let best = decide(logits, s * k, k);
    if (best < 0) {
      best = exactPrediction(forward64(chain, inputs, s, -1, [], exact));
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
  return { n, pre, predictions, margin, loss, correctPerClass, lossSum, rowsFloat64, bounds: new Map(), exact };
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

  // Decides one evaluated row from its new logits, re-deciding near ties in float64. Rows always arrive as a
  // Float64Array: one element type keeps this hot call monomorphic.
  let evaluated = 0;
  const settle = (condition: number, sample: number, logits: Float64Array, from: number) => {
    evaluated++;
    let best = decide(logits, from, k);
    if (best < 0) {
      best = exactPrediction(forward64(chain, inputs, sample, siteLayer, conditions[condition], intact.exact));
      stats.rowsFloat64++;
    }
    if (input.loss) outcomes[condition].lossDelta += crossEntropy(logits, labels[sample], from, k) - intactLoss[sample];
    recordPrediction(condition, sample, best);
  };
  const recordPrediction = (condition: number, sample: number, best: number) => {
    const before = intactPredictions[sample];
    if (best === before) return;
    const outcome = outcomes[condition];
    outcome.changed.push(sample, best);
    const label = labels[sample];
    if (before === label) outcome.correctDelta[label]--;
    if (best === label) outcome.correctDelta[label]++;
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
    return finish(intact, outcomes, { ...stats, rowsEvaluated: evaluated }, input.loss, started);
  }

  let bounds = intact.bounds.get(siteLayer);
  if (!bounds) {
    bounds = { ratio: boundRatios(chain, siteLayer, intact), lists: new Map(), singles: new Map() };
    intact.bounds.set(siteLayer, bounds);
  }
  const { ratio } = bounds;
  const stamp = new Int32Array(n);
  const rows = new Int32Array(n);
  const next = layers[siteLayer + 1];
  const nextPre = intact.pre[siteLayer + 1];

  // Without loss, a multi-unit condition on a sample where only one of its units is active is that unit's single
  // ablation there (zeroing an inactive ReLU unit changes nothing): its exact outcome is reused, not recomputed.
  const reuse = !input.loss && conditions.some((c) => c.length > 1);
  if (reuse) {
    const missing = [...new Set(conditions.flat())].filter((u) => !bounds!.singles.has(u));
    if (missing.length > 0) {
      const alone = await denseSweep({ ...input, intact, conditions: missing.map((u) => [u]), onProgress: undefined });
      missing.forEach((u, i) => bounds!.singles.set(u, new Map(Array.from(alone.conditions[i].changed, (s, j) => [s, alone.conditions[i].changedPredictions[j]]))));
    }
  }

  // Rows a condition must evaluate: any active unit (with loss), else those whose summed bound reaches the margin.
  // A set of k units reaches it only if one of them has a ratio ≥ 1/k: the per-unit lists at that threshold seed it.
  const rowsOf = (unitsOf: number[], c: number): number => {
    const threshold = input.loss ? 1e-30 : 1 / unitsOf.length;
    const lists = unitLists(bounds!, units, n, threshold);
    let count = 0;
    for (const u of unitsOf) {
      const list = lists[u];
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (stamp[s] === c + 1) continue;
        stamp[s] = c + 1;
        if (!input.loss && unitsOf.length > 1) {
          let sum = 0;
          let active = 0;
          let only = -1;
          for (const v of unitsOf) {
            const r = ratio[s * units + v];
            sum += r;
            if (r > 0) (active++, (only = v));
          }
          if (sum < 1) continue;
          if (reuse && active === 1) {
            const single = bounds!.singles.get(only)!.get(s);
            if (single !== undefined) recordPrediction(c, s, single);
            continue;
          }
        }
        rows[count++] = s;
      }
    }
    return count;
  };

  if (siteLayer + 1 === last) {
    // Closed form: the new logits are the cached ones minus Σ_u h_u·W_out[:,u].
    const row = new Float64Array(k);
    const columns = transpose(next.weight, k, units);
    conditions.forEach((unitsOf, c) => {
      checkAborted(input.signal);
      const count = rowsOf(unitsOf, c);
      for (let r = 0; r < count; r++) {
        const s = rows[r];
        for (let j = 0; j < k; j++) row[j] = nextPre[s * k + j];
        for (const u of unitsOf) {
          const h = siteValues[s * units + u];
          const column = u * k;
          if (h > 0) for (let j = 0; j < k; j++) row[j] -= h * columns[column + j];
        }
        settle(c, s, row, 0);
      }
      input.onProgress?.(c + 1, conditions.length);
    });
    return finish(intact, outcomes, { ...stats, rowsEvaluated: evaluated }, input.loss, started);
  }

  // General case: onnxruntime gathers each row's cached pre-activation of layer l+1, subtracts the rank-k correction
  // and runs the remaining layers; JS only lists (sample, units) per row. Conditions of up to `slots` units share a
  // graph (shorter ones padded with a zero weight row).
  const slots = Math.max(...conditions.map((c) => c.length));
  const session = await getSession(model, `dense:tail:${siteLayer}:${slots}`, () => gatherTailModel(chain, siteLayer, slots));
  const width = next.out;
  const chunkRows = Math.max(256, Math.min(CHUNK_ROWS, Math.floor(CHUNK_BYTES / (4 * slots * width))));
  const sampleIndex = new Int32Array(chunkRows);
  const unitIndex = new Int32Array(chunkRows * slots);
  const weightIndex = new Int32Array(chunkRows * slots);
  const rowCondition = new Int32Array(chunkRows);
  const cached = {
    [SITE_INPUT]: new OrtTensor("float32", siteValues, [n * units]),
    [NEXT_INPUT]: new OrtTensor("float32", nextPre, [n, width]),
  };
  let filled = 0;
  let queued = 0;
  const flush = async () => {
    if (filled === 0) return;
    checkAborted(input.signal);
    const out = await session.run({
      ...cached,
      [ROWS_INPUT]: new OrtTensor("int32", sampleIndex.subarray(0, filled), [filled]),
      [UNITS_INPUT]: new OrtTensor("int32", unitIndex.subarray(0, filled * slots), [filled, slots]),
      [WEIGHTS_INPUT]: new OrtTensor("int32", weightIndex.subarray(0, filled * slots), slots === 1 ? [filled] : [filled, slots]),
    });
    const logits = out.logits.data as Float32Array;
    const row = new Float64Array(k);
    for (let r = 0; r < filled; r++) {
      const from = r * k;
      // Fast path (no loss asked): a clear decision for the intact class changes nothing to record.
      if (!input.loss && clearlyFor(logits, from, k, intactPredictions[sampleIndex[r]])) {
        evaluated++;
        continue;
      }
      for (let j = 0; j < k; j++) row[j] = logits[from + j];
      settle(rowCondition[r], sampleIndex[r], row, 0);
    }
    filled = 0;
    input.onProgress?.(queued, conditions.length);
  };
  for (let c = 0; c < conditions.length; c++) {
    const unitsOf = conditions[c];
    const count = rowsOf(unitsOf, c);
    for (let r = 0; r < count; r++) {
      sampleIndex[filled] = rows[r];
      rowCondition[filled] = c;
      const at = filled * slots;
      for (let i = 0; i < slots; i++) {
        // Padding reads unit 0's activation against the zero weight row `units`: it adds nothing.
        unitIndex[at + i] = rows[r] * units + (i < unitsOf.length ? unitsOf[i] : 0);
        weightIndex[at + i] = i < unitsOf.length ? unitsOf[i] : units;
      }
      if (++filled === chunkRows) await flush();
    }
    queued = c + 1;
  }
  await flush();
  return finish(intact, outcomes, { ...stats, rowsEvaluated: evaluated }, input.loss, started);
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
      // Sorted by sample: (sample, prediction) packed into one exact integer key.
      const k = o.correctDelta.length;
      const keys = new Float64Array(o.changed.length / 2);
      for (let i = 0; i < keys.length; i++) keys[i] = o.changed[2 * i] * k + o.changed[2 * i + 1];
      keys.sort();
      return {
        correctPerClass: intact.correctPerClass.map((c, j) => c + o.correctDelta[j]),
        changed: Int32Array.from(keys, (key) => Math.floor(key / k)),
        changedPredictions: Int32Array.from(keys, (key) => key % k),
        lossSum: loss ? intact.lossSum + o.lossDelta : null,
      };
    }),
    stats: { ...stats, seconds: (performance.now() - started) / 1000 },
  };
}

/** The bound ratios of LayerBounds.ratio for the units of `siteLayer`. */
function boundRatios(chain: DenseChain, siteLayer: number, intact: DenseIntact): Float32Array {
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
  // float32 halves the memory the pair checks walk; each ratio is rounded up (× (1 + 1e-6)) so it stays a bound.
  const ratio = new Float32Array(intact.n * units);
  for (let s = 0; s < intact.n; s++) {
    const room = 0.999 * intact.margin[s] - 1e-5;
    const t = intact.predictions[s] * units;
    for (let u = 0; u < units; u++) {
      const h = values[s * units + u];
      if (!(h > 0)) continue;
      // Active units keep a ratio > 0 even where the bound is 0, so "ratio > 0" means "active".
      ratio[s * units + u] = room <= 0 ? Infinity : Math.max(((h * bound[t + u]) / room) * (1 + 1e-6), 1e-30);
    }
  }
  return ratio;
}

/** Per unit, the ascending samples whose bound ratio is ≥ threshold (cached per threshold). */
function unitLists(bounds: LayerBounds, units: number, n: number, threshold: number): Int32Array[] {
  const cached = bounds.lists.get(threshold);
  if (cached) return cached;
  const { ratio } = bounds;
  const counts = new Int32Array(units);
  for (let i = 0; i < n * units; i++) if (ratio[i] >= threshold) counts[i % units]++;
  const lists = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(units);
  for (let s = 0; s < n; s++) for (let u = 0; u < units; u++) if (ratio[s * units + u] >= threshold) lists[u][fill[u]++] = s;
  bounds.lists.set(threshold, lists);
  return lists;
}

/**
 * The graph of one evaluated row: gather the sample's site activations and next-layer pre-activations, subtract
 * Σ_i h[u_i]·W_{l+1}[:, u_i] over the row's `slots` units, then ReLU and the remaining layers.
 */
function gatherTailModel(chain: DenseChain, siteLayer: number, slots: number): ModelProto {
  const from = siteLayer + 1;
  const site = chain.layers[siteLayer];
  const next = chain.layers[from];
  const layers: LayerSpec[] = [];
  for (let j = from; j < chain.layers.length; j++) {
    const layer = chain.layers[j];
    if (j > from) layers.push({ op: "linear", name: `layer${j}`, weight: Float32Array.from(layer.weight), shape: [layer.out, layer.in], bias: layer.bias ? Float32Array.from(layer.bias) : null });
    if (layer.activation === "relu") layers.push({ op: "relu" });
  }
  const model = buildClassifier({ layers, inputShape: [next.out] });
  const graph = model.graph!;
  // W_{l+1}ᵀ with one zero row appended for padding slots.
  const columns = new Float32Array((site.out + 1) * next.out);
  columns.set(transpose(next.weight, next.out, site.out));
  graph.initializer!.push(makeTensor("lesion.columns", [site.out + 1, next.out], columns), makeTensor("lesion.axis1", [1], BigInt64Array.from([1n])), makeTensor("lesion.axis2", [1], BigInt64Array.from([2n])));
  // h: each row's site activations, gathered by flat index (sample·units + unit) from the site values.
  const gatherH = makeNode("Gather", [SITE_INPUT, UNITS_INPUT], ["lesion.h"], "lesion/gather/h", { axis: 0 });
  const correction =
    slots === 1
      ? [
          // One unit: h[r] · W_{l+1}[:, u_r], a broadcast product of [rows, 1] and [rows, width].
          makeNode("Gather", ["lesion.columns", WEIGHTS_INPUT], ["lesion.w"], "lesion/gather/w", { axis: 0 }),
          makeNode("Mul", ["lesion.h_relu", "lesion.w"], ["lesion.correction"], "lesion/mul/correction"),
        ]
      : [
          makeNode("Unsqueeze", ["lesion.h_relu", "lesion.axis2"], ["lesion.h3"], "lesion/unsqueeze/h"),
          makeNode("Gather", ["lesion.columns", WEIGHTS_INPUT], ["lesion.w"], "lesion/gather/w", { axis: 0 }),
          makeNode("Mul", ["lesion.h3", "lesion.w"], ["lesion.terms"], "lesion/mul/terms"),
          makeNode("ReduceSum", ["lesion.terms", "lesion.axis1"], ["lesion.correction"], "lesion/sum/correction", { keepdims: 0 }),
        ];
  graph.node!.unshift(
    makeNode("Gather", [NEXT_INPUT, ROWS_INPUT], ["lesion.next_rows"], "lesion/gather/next", { axis: 0 }),
    gatherH,
    makeNode("Relu", ["lesion.h"], ["lesion.h_relu"], "lesion/relu/h"),
    ...correction,
    makeNode("Sub", ["lesion.next_rows", "lesion.correction"], [INPUT_NAME], "lesion/sub/correction"),
  );
  graph.input = [
    makeValueInfo(SITE_INPUT, DataType.FLOAT, ["values"]),
    makeValueInfo(NEXT_INPUT, DataType.FLOAT, ["samples", next.out]),
    makeValueInfo(ROWS_INPUT, DataType.INT32, ["rows"]),
    makeValueInfo(UNITS_INPUT, DataType.INT32, ["rows", slots]),
    makeValueInfo(WEIGHTS_INPUT, DataType.INT32, slots === 1 ? ["rows"] : ["rows", slots]),
  ];
  return model;
}

/**
 * The chain in float64 from the (float32) input, with `units` of layer `siteLayer` zeroed after it (siteLayer −1:
 * intact). The intact float64 activations of a sample are kept in `cache`, so a recheck runs only the layers after
 * the site.
 */
export function forward64(chain: DenseChain, inputs: Float32Array, sample: number, siteLayer: number, units: readonly number[], cache?: Map<number, Float64Array[]>): Float64Array {
  let activations = cache?.get(sample);
  if (!activations) {
    const width = chain.layers[0].in;
    let x: Float64Array = Float64Array.from(inputs.subarray(sample * width, (sample + 1) * width));
    activations = chain.layers.map((layer) => (x = dense64(layer, x)));
    cache?.set(sample, activations);
  }
  if (siteLayer < 0) return activations[activations.length - 1];
  let x: Float64Array = Float64Array.from(activations[siteLayer]);
  for (const u of units) x[u] = 0;
  for (let j = siteLayer + 1; j < chain.layers.length; j++) x = dense64(chain.layers[j], x);
  return x;
}

function dense64(layer: DenseLayer, x: Float64Array): Float64Array {
  const y = new Float64Array(layer.out);
  for (let o = 0; o < layer.out; o++) {
    let sum = layer.bias ? layer.bias[o] : 0;
    const row = o * layer.in;
    for (let i = 0; i < layer.in; i++) sum += layer.weight[row + i] * x[i];
    y[o] = layer.activation === "relu" ? Math.max(sum, 0) : sum;
  }
  return y;
}

/** [rows × cols] → [cols × rows], so a unit's outgoing weights are contiguous. */
function transpose(matrix: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(matrix.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c];
  return out;
}

/**
 * Whether float32 logits clearly pick class t (an inline copy of decide's test, kept separate so that decide stays
 * monomorphic on float64 rows).
 */
function clearlyFor(logits: Float32Array, from: number, k: number, t: number): boolean {
  const top = logits[from + t];
  let next = -Infinity;
  for (let c = 0; c < k; c++) {
    if (c === t) continue;
    const v = logits[from + c];
    // Ties go to the lower class: an equal lower class wins.
    if (v > top || (v === top && c < t)) return false;
    if (v > next) next = v;
  }
  return top - next > TIE_MARGIN * Math.max(Math.abs(top), Math.abs(next), 1);
}

/** The prediction from float64 logits: exact, ties toward the lower class. */
function exactPrediction(logits: Float64Array): number {
  const d = decide(logits);
  return d < 0 ? -1 - d : d;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail("aborted", "run aborted");
}
