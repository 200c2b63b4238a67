/**
 * The fast exact sweep for dense chains (MLPs with ReLU). Every number is exact; only work that provably cannot
 * change an answer is skipped:
 * 1. One intact forward pass caches every layer's pre-activation. Zeroing units of layer l changes nothing on a
 *    sample where none of them is active, so only (condition, sample) rows with an active unit are evaluated.
 * 2. An evaluated row starts from the cached pre-activation of layer l+1 minus a rank-|U| correction
 *    Σ_u h_u·W_{l+1}[:,u] and runs only the layers after it (batched through onnxruntime); where l feeds the output
 *    layer, the new logits are that correction alone (closed form, no GEMM).
 * 3. Without loss, a row is skipped when, for every class c, a bound on how far the ablation can lower the gap
 *    z_t − z_c stays below that gap (gapGains: exact where the site feeds the output layer, interval propagation
 *    through the ReLUs before). For a set of units the bounds add up; and starting from the exact gaps a single
 *    leaves, the other units' bounds must reach those too, which prunes most pairs (their candidates are listed once
 *    per layer). Gaps are taken with slack (0.999·gap − 1e-5, − 1e-4 for single gaps) so rounding never prunes a
 *    row that could flip.
 * 4. A multi-unit condition on a sample where only one of its units is active equals that unit's single ablation
 *    there; the single's exact outcome (and loss) is reused.
 * 5. float32 decides unless its top two logits nearly tie (src/engine/sweep/logits.ts); those rows, and the intact
 *    network's own near ties, are recomputed in float64 from the input.
 * Algorithm and measurements: shared note "fast-exact-sweep"; benchmark: bench/ablation.mjs.
 */
import { fail } from "../../errors.js";
import { buildClassifier, INPUT_NAME, OUTPUT_NAME, type LayerSpec } from "../../onnx/build.js";
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
  /** [n × k]: the gaps z_t − z_c of the float32 logits with slack (0.999·gap − 1e-5), Infinity at c = t. */
  room: Float64Array;
  /** Per-sample cross-entropy of the float32 logits. */
  loss: Float64Array;
  correctPerClass: number[];
  lossSum: number;
  rowsFloat64: number;
  /** Per site layer: bounds, single outcomes and candidate lists, computed once for every call on these inputs. */
  bounds: Map<number, LayerBounds>;
  /** float64 activations of every layer, for the samples rechecked so far. */
  exact: Map<number, Float64Array[]>;
}

interface LayerBounds {
  /** gapGains of the layer: [k × k × units]. */
  gain: Float64Array;
  /** The same gains as [k × units × k] (t, u, c): a unit's classes side by side. */
  byUnit: Float64Array;
  /**
   * [n × units]: an upper bound on max over classes of h_u·gain / room, how much of the room zeroing the unit takes;
   * a set of units can flip the sample only if its ratios sum to ≥ 1. 0 exactly where the unit is inactive (nothing
   * changes), Infinity where the margin leaves no room.
   */
  ratio: Float32Array;
  /** [n × units]: h_u·max over classes of gain (rounded up): no gap falls further when u is zeroed. */
  reach: Float32Array;
  /** Per threshold, per unit: ascending samples whose ratio is ≥ the threshold. */
  lists: Map<number, Int32Array[]>;
  /** Per unit ablated alone: its changed samples → new prediction (exact), for multi-unit conditions to reuse. */
  singles: Map<number, Map<number, number>>;
  /** [n × units]: cross-entropy with the unit zeroed alone, for the units in lossUnits (NaN elsewhere). */
  singleLosses: Float64Array | null;
  /** Per unit in lossUnits: its single's change of the summed loss, Σ over its active samples. */
  singleLossSums: Float64Array | null;
  lossUnits: Set<number>;
  /**
   * [n × units × k]: float32 gaps z_t − z_c with the unit zeroed alone, with slack (0.999·gap − 1e-4; Infinity
   * at c = t), NaN where that row was not evaluated; null where the sweep has no pairs to prune with them (or they
   * would outgrow PAIR_BYTES). Zeroing unit j as well lowers a gap by at most h_j·gain: a pair can lower gap c below 0 only
   * if each unit's bound reaches the other's single gap.
   */
  singleGaps: Float32Array | null;
  gapUnits: Set<number>;
  /** [n × units]: the smallest of the unit's single gaps (with their slack), −Infinity where unknown. */
  singleMargins: Float32Array | null;
  /**
   * Per pair i < j (index i·units + j): the samples where both are active and the pair can flip, ascending; null
   * where the lists would outgrow PAIR_BYTES, undefined until listed.
   */
  pairRows?: PairRows | null;
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
  /** Single-unit conditions only: where to store each evaluated row's gaps (LayerBounds.singleGaps). */
  gaps?: Float32Array;
  /** Single-unit conditions only, with loss: where to store each evaluated row's loss (LayerBounds.singleLosses). */
  losses?: Float64Array;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

const INTACT_BATCH = 8192;
/** Rows per onnxruntime run of the layers after the site: 8-16k ran fastest (shared note). */
const CHUNK_ROWS = 12288;
/** Bound on the gathered weight rows of one run (rows × units per condition × width × 4 bytes). */
const CHUNK_BYTES = 64 * 2 ** 20;
/**
 * Bound on a layer's single gaps and on its pair candidate lists (bytes each). Beyond it (large layers on large data
 * sets), pairs are pruned by their summed bounds alone: slower, as exact.
 */
const PAIR_BYTES = 512 * 2 ** 20;
const NEXT_INPUT = "next";
const ROWS_INPUT = "rows";
const TARGETS_INPUT = "targets";
const LABELS_INPUT = "labels";
const LOSS_OUTPUT = "loss";
const TOP_OUTPUT = "top";
const RUNNER_UP_OUTPUT = "runner_up";
const activationInput = (slot: number) => `h${slot}`;
const weightsInput = (slot: number) => `weights${slot}`;

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
    loss[s] = crossEntropy(logits, labels[s], s * k, k);
    lossSum += loss[s];
    if (best === labels[s]) correctPerClass[best]++;
  }
  return { n, pre, predictions, room: roomOf(logits, predictions, n, k), loss, correctPerClass, lossSum, rowsFloat64, bounds: new Map(), exact };
}

export async function denseSweep(input: DenseSweepInput): Promise<SweepResult> {
  const started = performance.now();
  const { model, chain, siteLayer, inputs, labels, conditions } = input;
  const last = chain.layers.length - 1;
  const site = chain.layers[siteLayer];
  for (const units of conditions) for (const u of units) if (!(u >= 0 && u < site.out)) fail("unit-out-of-range", `unit ${u} is out of range for site ${site.name} (0..${site.out - 1})`, { site: site.name, unit: u });
  const intact = input.intact ?? (await denseIntact(model, chain, inputs, labels));
  const sweep = new Sweep(input, intact);
  if (siteLayer === last) {
    sweep.logits();
  } else {
    const bounds = layerBounds(chain, siteLayer, intact);
    // A multi-unit condition on a sample where only one of its units is active is that unit's single ablation there
    // (zeroing an inactive ReLU unit changes nothing): its exact outcome (and loss) is reused, not recomputed.
    // Without loss, the singles' gaps tighten the bound of the others (LayerBounds.singleGaps).
    const multi = conditions.some((c) => c.length > 1);
    if (multi && input.loss && intact.n * site.out * 8 <= PAIR_BYTES) {
      const missing = [...new Set(conditions.flat())].filter((u) => !bounds.lossUnits.has(u));
      if (missing.length > 0) {
        bounds.singleLosses ??= new Float64Array(intact.n * site.out).fill(NaN);
        const alone = await denseSweep({ ...input, intact, conditions: missing.map((u) => [u]), losses: bounds.singleLosses, onProgress: undefined });
        bounds.singleLossSums ??= new Float64Array(site.out).fill(NaN);
        const values = intact.pre[siteLayer];
        missing.forEach((u, i) => {
          bounds.singles.set(u, new Map(Array.from(alone.conditions[i].changed, (s, j) => [s, alone.conditions[i].changedPredictions[j]])));
          bounds.lossUnits.add(u);
          let sum = 0;
          for (let s = 0; s < intact.n; s++) if (values[s * site.out + u] > 0) sum += bounds.singleLosses![s * site.out + u] - intact.loss[s];
          bounds.singleLossSums![u] = sum;
        });
      }
    }
    const reuse = multi && (!input.loss || bounds.singleLosses !== null);
    if (multi && !input.loss) {
      // Where the site feeds the output layer the gains are exact and the singles' gaps add nothing.
      const wantGaps = siteLayer + 1 < last && intact.n * site.out * sweep.k * 4 <= PAIR_BYTES;
      const missing = [...new Set(conditions.flat())].filter((u) => (wantGaps ? !bounds.gapUnits.has(u) : !bounds.singles.has(u)));
      if (missing.length > 0) {
        if (wantGaps) bounds.singleGaps ??= new Float32Array(intact.n * site.out * sweep.k).fill(NaN);
        const alone = await denseSweep({ ...input, intact, conditions: missing.map((u) => [u]), gaps: bounds.singleGaps ?? undefined, onProgress: undefined });
        missing.forEach((u, i) => {
          bounds.singles.set(u, new Map(Array.from(alone.conditions[i].changed, (s, j) => [s, alone.conditions[i].changedPredictions[j]])));
          if (wantGaps) bounds.gapUnits.add(u);
        });
        if (bounds.singleGaps) bounds.singleMargins = marginsOf(bounds.singleGaps, intact.n * site.out, sweep.k);
      }
    }
    const pairCount = conditions.filter((c) => c.length === 2).length;
    const listPairs = reuse && !input.loss && pairCount >= site.out;
    if (listPairs && bounds.pairRows === undefined) bounds.pairRows = candidatePairs(bounds, intact, intact.pre[siteLayer], sweep.k, site.out);
    sweep.prune(bounds, reuse, listPairs ? (bounds.pairRows ?? null) : null);
    // With loss every active row is evaluated: onnxruntime then runs even the closed form faster than JS.
    if (siteLayer + 1 === last && !input.loss) sweep.closedForm();
    else await sweep.tail();
  }
  return finish(intact, sweep.outcomes, { rowsEvaluated: sweep.evaluated, rowsFloat64: sweep.rowsFloat64, unresolvedTies: 0 }, input.loss, started);
}

/** The bounds of a site layer, computed once per intact pass. */
function layerBounds(chain: DenseChain, siteLayer: number, intact: DenseIntact): LayerBounds {
  const cached = intact.bounds.get(siteLayer);
  if (cached) return cached;
  const k = chain.layers[chain.layers.length - 1].out;
  const units = chain.layers[siteLayer].out;
  const gain = gapGains(chain, siteLayer);
  const byUnit = new Float64Array(gain.length);
  for (let t = 0; t < k; t++) for (let c = 0; c < k; c++) for (let u = 0; u < units; u++) byUnit[(t * units + u) * k + c] = gain[(t * k + c) * units + u];
  const bounds = { gain, byUnit, ...ratiosOf(byUnit, intact.pre[siteLayer], intact, k, units), lists: new Map(), singles: new Map(), singleLosses: null, singleLossSums: null, lossUnits: new Set<number>(), singleGaps: null, gapUnits: new Set<number>(), singleMargins: null };
  intact.bounds.set(siteLayer, bounds);
  return bounds;
}

/**
 * One denseSweep call's state. Its hot loops are methods, not closures made per call: V8 then compiles them once for
 * every call, instead of recompiling on background threads that compete with onnxruntime's for the cores.
 */
class Sweep {
  readonly k: number;
  readonly units: number;
  readonly n: number;
  readonly outcomes: Accumulator[];
  readonly siteValues: Float32Array;
  readonly rows: Int32Array;
  evaluated = 0;
  rowsFloat64: number;
  private bounds: LayerBounds | null = null;
  private reuse = false;
  private singleGaps: Float32Array | null = null;
  private pairRows: PairRows | null = null;
  private stamp: Int32Array;

  constructor(
    readonly input: DenseSweepInput,
    readonly intact: DenseIntact,
  ) {
    const layers = input.chain.layers;
    this.k = layers[layers.length - 1].out;
    this.units = layers[input.siteLayer].out;
    this.n = intact.n;
    this.siteValues = intact.pre[input.siteLayer];
    this.outcomes = input.conditions.map((): Accumulator => ({ changed: [], correctDelta: new Array<number>(this.k).fill(0), lossDelta: 0 }));
    this.rowsFloat64 = intact.rowsFloat64;
    this.rows = new Int32Array(intact.n);
    this.stamp = new Int32Array(intact.n);
  }

  prune(bounds: LayerBounds, reuse: boolean, pairRows: PairRows | null): void {
    this.bounds = bounds;
    this.reuse = reuse;
    this.singleGaps = reuse && !this.input.loss ? bounds.singleGaps : null;
    this.pairRows = pairRows;
  }

  /**
   * Decides one evaluated row from its new logits, re-deciding near ties in float64. Rows always arrive as a
   * Float64Array: one element type keeps this hot call monomorphic.
   */
  settle(condition: number, sample: number, logits: Float64Array, rowLoss = NaN): void {
    const { input, intact, k } = this;
    this.evaluated++;
    let best = decide(logits, 0, k);
    if (best < 0) {
      best = exactPrediction(forward64(input.chain, input.inputs, sample, input.siteLayer, input.conditions[condition], intact.exact));
      this.rowsFloat64++;
    }
    if (input.loss) this.addLoss(condition, sample, rowLoss === rowLoss ? rowLoss : crossEntropy(logits, input.labels[sample], 0, k));
    this.record(condition, sample, best);
  }

  addLoss(condition: number, sample: number, loss: number): void {
    this.outcomes[condition].lossDelta += loss - this.intact.loss[sample];
    if (this.input.losses) this.input.losses[sample * this.units + this.input.conditions[condition][0]] = loss;
  }

  record(condition: number, sample: number, best: number): void {
    const before = this.intact.predictions[sample];
    if (best === before) return;
    const outcome = this.outcomes[condition];
    outcome.changed.push(sample, best);
    const label = this.input.labels[sample];
    if (before === label) outcome.correctDelta[label]--;
    if (best === label) outcome.correctDelta[label]++;
  }

  /** Stores a single's gaps (with slack) in input.gaps. */
  noteGaps(condition: number, sample: number, logits: Float32Array | Float64Array, from: number): void {
    const { k } = this;
    const gaps = this.input.gaps!;
    const at = (sample * this.units + this.input.conditions[condition][0]) * k;
    const t = this.intact.predictions[sample];
    for (let c = 0; c < k; c++) gaps[at + c] = c === t ? Infinity : 0.999 * (logits[from + t] - logits[from + c]) - 1e-4;
  }

  /**
   * Whether a multi-unit condition can flip the sample: for some class c, the units' summed bounds reach the room of
   * gap c, and for each unit j, the others' bounds reach the gap c left when j is zeroed alone (NaN where that single
   * row was pruned, which passes).
   */
  canFlip(unitsOf: number[], s: number): boolean {
    const { k, units, siteValues, singleGaps } = this;
    const { gain } = this.bounds!;
    const room = this.intact.room;
    const t = this.intact.predictions[s];
    for (let c = 0; c < k; c++) {
      if (c === t) continue;
      const base = (t * k + c) * units;
      let total = 0;
      // siteValues are pre-activations: an inactive unit (≤ 0) moves nothing.
      for (const u of unitsOf) total += Math.max(0, siteValues[s * units + u]) * gain[base + u];
      total *= 1 + 1e-6;
      if (total < room[s * k + c]) continue;
      let others = true;
      if (singleGaps) {
        for (const j of unitsOf) {
          if (total - Math.max(0, siteValues[s * units + j]) * gain[base + j] < singleGaps[(s * units + j) * k + c]) {
            others = false;
            break;
          }
        }
      }
      if (others) return true;
    }
    return false;
  }

  /**
   * Lists in `rows` the samples a condition must evaluate and returns their count: any active unit (with loss), else
   * those whose bound reaches the margin. A set of k units reaches it only if one of them has a ratio ≥ 1/k: the
   * per-unit lists at that threshold seed it.
   */
  rowsOf(unitsOf: number[], c: number): number {
    const { input, units, siteValues, rows, stamp, pairRows } = this;
    const bounds = this.bounds!;
    if (pairRows && unitsOf.length === 2 && unitsOf[0] !== unitsOf[1]) {
      // Pairs, the long sweeps: candidates listed once per layer (where both units are active); where only one is
      // active, the single's outcome.
      const [i, j] = unitsOf[0] < unitsOf[1] ? unitsOf : [unitsOf[1], unitsOf[0]];
      for (const [a, b] of [[i, j], [j, i]]) for (const [s, p] of bounds.singles.get(a)!) if (!(siteValues[s * units + b] > 0)) this.record(c, s, p);
      const pair = i * units + j;
      rows.set(pairRows.samples.subarray(pairRows.offsets[pair], pairRows.offsets[pair + 1]));
      return pairRows.offsets[pair + 1] - pairRows.offsets[pair];
    }
    // Recording single gaps evaluates every active row: the exact gaps prune far more pairs than bounds would.
    const threshold = input.loss || input.gaps ? 1e-30 : 1 / unitsOf.length;
    const lists = unitLists(bounds, units, this.n, threshold);
    if (input.loss && this.reuse && unitsOf.length === 2 && unitsOf[0] !== unitsOf[1]) {
      // Pairs with loss: only samples where both units are active are evaluated. Where one is, the single's outcome;
      // its loss enters through the single's sum over its active samples, less the samples where both are.
      const [i, j] = unitsOf;
      const [a, b] = [lists[i], lists[j]];
      let count = 0;
      for (let x = 0, y = 0; x < a.length && y < b.length; ) {
        if (a[x] < b[y]) x++;
        else if (a[x] > b[y]) y++;
        else {
          rows[count++] = a[x];
          x++;
          y++;
        }
      }
      for (const [p, q] of [[i, j], [j, i]]) for (const [s, best] of bounds.singles.get(p)!) if (!(siteValues[s * units + q] > 0)) this.record(c, s, best);
      const losses = bounds.singleLosses!;
      const intactLoss = this.intact.loss;
      let delta = bounds.singleLossSums![i] + bounds.singleLossSums![j];
      for (let r = 0; r < count; r++) {
        const s = rows[r];
        delta -= losses[s * units + i] - intactLoss[s] + (losses[s * units + j] - intactLoss[s]);
      }
      this.outcomes[c].lossDelta += delta;
      return count;
    }
    const { ratio } = bounds;
    let count = 0;
    for (const u of unitsOf) {
      const list = lists[u];
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (stamp[s] === c + 1) continue;
        stamp[s] = c + 1;
        if (input.loss && unitsOf.length > 1 && this.reuse) {
          let active = 0;
          let only = -1;
          for (const v of unitsOf) if (siteValues[s * units + v] > 0) (active++, (only = v));
          if (active === 1) {
            const single = bounds.singles.get(only)!.get(s);
            if (single !== undefined) this.record(c, s, single);
            this.outcomes[c].lossDelta += bounds.singleLosses![s * units + only] - this.intact.loss[s];
            continue;
          }
        }
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
          if (this.reuse && active === 1) {
            const single = bounds.singles.get(only)!.get(s);
            if (single !== undefined) this.record(c, s, single);
            continue;
          }
          if (!this.canFlip(unitsOf, s)) continue;
        }
        rows[count++] = s;
      }
    }
    return count;
  }

  /** The site is the output layer: z_u := 0. Every row may change; the work per row is |U| + K. */
  logits(): void {
    const { input, k, n } = this;
    const logits = this.intact.pre[input.chain.layers.length - 1];
    const row = new Float64Array(k);
    input.conditions.forEach((unitsOf, c) => {
      checkAborted(input.signal);
      for (let s = 0; s < n; s++) {
        if (!unitsOf.some((u) => logits[s * k + u] !== 0)) continue;
        for (let j = 0; j < k; j++) row[j] = logits[s * k + j];
        for (const u of unitsOf) row[u] = 0;
        this.settle(c, s, row);
      }
      input.onProgress?.(c + 1, input.conditions.length);
    });
  }

  /** The site feeds the output layer: the new logits are the cached ones minus Σ_u h_u·W_out[:,u]. */
  closedForm(): void {
    const { input, k, units, siteValues, rows } = this;
    const nextPre = this.intact.pre[input.siteLayer + 1];
    const columns = transpose(input.chain.layers[input.siteLayer + 1].weight, k, units);
    const row = new Float64Array(k);
    input.conditions.forEach((unitsOf, c) => {
      checkAborted(input.signal);
      const count = this.rowsOf(unitsOf, c);
      for (let r = 0; r < count; r++) {
        const s = rows[r];
        for (let j = 0; j < k; j++) row[j] = nextPre[s * k + j];
        for (const u of unitsOf) {
          const h = siteValues[s * units + u];
          const column = u * k;
          if (h > 0) for (let j = 0; j < k; j++) row[j] -= h * columns[column + j];
        }
        if (input.gaps) this.noteGaps(c, s, row, 0);
        this.settle(c, s, row);
      }
      input.onProgress?.(c + 1, input.conditions.length);
    });
  }

  /**
   * The general case: onnxruntime gathers each row's cached pre-activation of layer l+1, subtracts the rank-k
   * correction and runs the remaining layers; JS only lists (sample, units) per row. Conditions of up to `slots` units
   * share a graph (shorter ones padded with a zero weight row).
   */
  async tail(): Promise<void> {
    const { input, n } = this;
    const { model, chain, siteLayer, conditions } = input;
    const slots = Math.max(...conditions.map((c) => c.length));
    const session = await getSession(model, `dense:tail:${siteLayer}:${slots}:${input.loss ? "loss" : "plain"}`, () => gatherTailModel(chain, siteLayer, slots, input.loss));
    const width = chain.layers[siteLayer + 1].out;
    const chunkRows = Math.max(256, Math.min(CHUNK_ROWS, Math.floor(CHUNK_BYTES / (4 * slots * width))));
    const chunk: Chunk = {
      samples: new Int32Array(chunkRows),
      activations: Array.from({ length: slots }, () => new Float32Array(chunkRows)),
      weights: Array.from({ length: slots }, () => new Int32Array(chunkRows)),
      conditions: new Int32Array(chunkRows),
      targets: new Int32Array(chunkRows),
      labels: input.loss ? new Int32Array(chunkRows) : null,
      filled: 0,
    };
    const cached = { [NEXT_INPUT]: new OrtTensor("float32", this.intact.pre[siteLayer + 1], [n, width]) };
    let queued = 0;
    const flush = async () => {
      const filled = chunk.filled;
      if (filled === 0) return;
      checkAborted(input.signal);
      const out = await session.run({
        ...cached,
        [ROWS_INPUT]: new OrtTensor("int32", chunk.samples.subarray(0, filled), [filled]),
        [TARGETS_INPUT]: new OrtTensor("int32", chunk.targets.subarray(0, filled), [filled, 1]),
        ...(chunk.labels ? { [LABELS_INPUT]: new OrtTensor("int32", chunk.labels.subarray(0, filled), [filled, 1]) } : {}),
        ...Object.fromEntries(chunk.activations.map((values, i) => [activationInput(i), new OrtTensor("float32", values.subarray(0, filled), [filled, 1])])),
        ...Object.fromEntries(chunk.weights.map((index, i) => [weightsInput(i), new OrtTensor("int32", index.subarray(0, filled), [filled])])),
      });
      this.read(chunk, out[OUTPUT_NAME].data as Float32Array, out[TOP_OUTPUT].data as Float32Array, out[RUNNER_UP_OUTPUT].data as Float32Array, chunk.labels ? (out[LOSS_OUTPUT].data as Float32Array) : null);
      chunk.filled = 0;
      input.onProgress?.(queued, conditions.length);
    };
    for (let c = 0; c < conditions.length; c++) {
      const count = this.rowsOf(conditions[c], c);
      for (let r = 0; r < count; ) {
        r = this.queue(chunk, c, r, count, chunkRows);
        if (chunk.filled === chunkRows) await flush();
      }
      queued = c + 1;
    }
    await flush();
  }

  /** Queues rows[from..count) of condition c until the chunk is full; returns where it stopped. */
  queue(chunk: Chunk, c: number, from: number, count: number, chunkRows: number): number {
    const { rows, units, siteValues } = this;
    const unitsOf = this.input.conditions[c];
    const slots = chunk.activations.length;
    const take = Math.min(count - from, chunkRows - chunk.filled);
    const at = chunk.filled;
    chunk.samples.set(rows.subarray(from, from + take), at);
    chunk.conditions.fill(c, at, at + take);
    const predictions = this.intact.predictions;
    for (let r = 0; r < take; r++) chunk.targets[at + r] = predictions[rows[from + r]];
    if (chunk.labels) for (let r = 0; r < take; r++) chunk.labels[at + r] = this.input.labels[rows[from + r]];
    for (let i = 0; i < slots; i++) {
      const activations = chunk.activations[i];
      if (i < unitsOf.length) {
        const u = unitsOf[i];
        chunk.weights[i].fill(u, at, at + take);
        // −h: siteValues are pre-activations, the ReLU is applied here.
        for (let r = 0; r < take; r++) activations[at + r] = -Math.max(0, siteValues[rows[from + r] * units + u]);
      } else {
        // Padding: 0 against the zero weight row `units` adds nothing.
        chunk.weights[i].fill(units, at, at + take);
        activations.fill(0, at, at + take);
      }
    }
    chunk.filled += take;
    return from + take;
  }

  /** Reads a chunk's logits: without loss, a clear decision for the intact class changes nothing to record. */
  read(chunk: Chunk, logits: Float32Array, top: Float32Array, runnerUp: Float32Array, losses: Float32Array | null): void {
    const { k } = this;
    const { gaps } = this.input;
    const { samples, conditions, filled } = chunk;
    const row = new Float64Array(k);
    for (let r = 0; r < filled; r++) {
      const from = r * k;
      const sample = samples[r];
      if (gaps) this.noteGaps(conditions[r], sample, logits, from);
      // A clear decision for the intact class (the test of decide; an equal runner-up is not clear, as the lower
      // class wins a tie) changes no prediction: only the loss is recorded.
      if (top[r] - runnerUp[r] > TIE_MARGIN * Math.max(Math.abs(top[r]), Math.abs(runnerUp[r]), 1)) {
        this.evaluated++;
        if (losses) this.addLoss(conditions[r], sample, losses[r]);
        continue;
      }
      for (let j = 0; j < k; j++) row[j] = logits[from + j];
      this.settle(conditions[r], sample, row, losses ? losses[r] : NaN);
    }
  }
}

interface PairRows {
  offsets: Int32Array;
  samples: Int32Array;
}

/** One onnxruntime run's rows: sample, per slot the unit's activation and weight row, condition, intact prediction. */
interface Chunk {
  samples: Int32Array;
  targets: Int32Array;
  /** With loss: each row's label. */
  labels: Int32Array | null;
  activations: Float32Array[];
  weights: Int32Array[];
  conditions: Int32Array;
  filled: number;
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
      // Sorted by sample: (sample, prediction) packed into one exact integer key (each sample appears once).
      const k = o.correctDelta.length;
      const count = o.changed.length / 2;
      const keys = new Float64Array(count);
      let sorted = true;
      for (let i = 0; i < count; i++) {
        keys[i] = o.changed[2 * i] * k + o.changed[2 * i + 1];
        if (i > 0 && keys[i] < keys[i - 1]) sorted = false;
      }
      if (!sorted) keys.sort();
      const changed = new Int32Array(count);
      const changedPredictions = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        changed[i] = Math.floor(keys[i] / k);
        changedPredictions[i] = keys[i] - changed[i] * k;
      }
      return {
        correctPerClass: intact.correctPerClass.map((c, j) => c + o.correctDelta[j]),
        changed,
        changedPredictions,
        lossSum: loss ? intact.lossSum + o.lossDelta : null,
      };
    }),
    stats: { ...stats, seconds: (performance.now() - started) / 1000 },
  };
}

/**
 * gain[(t·k + c)·units + u]: per unit of activation of `siteLayer`'s unit u, an upper bound on how far zeroing it
 * lowers the gap z_t − z_c (0 when it cannot lower it). Where the site feeds the output layer this is exact:
 * W_out[t,u] − W_out[c,u]. Earlier, interval propagation: a ReLU moves its output by s·Δ for some slope s in [0, 1]
 * (it is monotone and 1-Lipschitz), so the change of each later layer lies in a box, [min(0, lo), max(0, hi)] after
 * a ReLU; the last hidden box meets W_out[t] − W_out[c] with its signs. The box of a set of units is within the sum of
 * their boxes (the same slopes apply to every input), so the bounds of a set's units add up.
 */
export function gapGains(chain: DenseChain, siteLayer: number): Float64Array {
  const layers = chain.layers;
  const last = layers.length - 1;
  const out = layers[last];
  const k = out.out;
  const units = layers[siteLayer].out;
  // lo/hi[j·units + u]: the box of the change of the last hidden layer's unit j per unit of site unit u's activation.
  let width = units;
  let lo = new Float64Array(units * units);
  let hi = new Float64Array(units * units);
  for (let u = 0; u < units; u++) lo[u * units + u] = hi[u * units + u] = -1;
  for (let l = siteLayer + 1; l < last; l++) {
    const layer = layers[l];
    const nextLo = new Float64Array(layer.out * units);
    const nextHi = new Float64Array(layer.out * units);
    for (let o = 0; o < layer.out; o++) {
      for (let i = 0; i < width; i++) {
        const w = layer.weight[o * layer.in + i];
        if (w === 0) continue;
        const [a, b] = w > 0 ? [lo, hi] : [hi, lo];
        for (let u = 0; u < units; u++) {
          nextLo[o * units + u] += w * a[i * units + u];
          nextHi[o * units + u] += w * b[i * units + u];
        }
      }
    }
    // ReLU: the output moves by a fraction in [0, 1] of the input's move, so 0 is always in the box.
    for (let i = 0; i < nextLo.length; i++) {
      nextLo[i] = Math.min(0, nextLo[i]);
      nextHi[i] = Math.max(0, nextHi[i]);
    }
    lo = nextLo;
    hi = nextHi;
    width = layer.out;
  }
  const gain = new Float64Array(k * k * units);
  for (let t = 0; t < k; t++) {
    for (let c = 0; c < k; c++) {
      if (c === t) continue;
      const row = (t * k + c) * units;
      for (let j = 0; j < width; j++) {
        const d = out.weight[t * width + j] - out.weight[c * width + j];
        if (d === 0) continue;
        // The gap moves by d·Δh_j; its largest fall is −d·lo (d > 0) or −d·hi (d < 0).
        const box = d > 0 ? lo : hi;
        for (let u = 0; u < units; u++) gain[row + u] -= d * box[j * units + u];
      }
      for (let u = 0; u < units; u++) gain[row + u] = Math.max(0, gain[row + u]);
    }
  }
  return gain;
}

/** DenseIntact.room. */
function roomOf(logits: Float32Array, predictions: Int32Array, n: number, k: number): Float64Array {
  const room = new Float64Array(n * k);
  for (let s = 0; s < n; s++) {
    const t = predictions[s];
    for (let c = 0; c < k; c++) room[s * k + c] = c === t ? Infinity : 0.999 * (logits[s * k + t] - logits[s * k + c]) - 1e-5;
  }
  return room;
}

/**
 * LayerBounds.pairRows. Per sample, the active units in order, so that each unit meets only a prefix of the later ones:
 * with single gaps, in ascending order of single margin (a pair can flip the sample only if each unit's reach covers
 * the other's single margin, so unit i stops at the first later unit whose margin its reach misses); without, the
 * units of ratio ≥ ½ first (a pair's ratios must sum to ≥ 1, so one of them is), each meeting every later unit. The
 * survivors pass the ratio sum and the per-class test of canFlip.
 */
function candidatePairs(bounds: LayerBounds, intact: DenseIntact, values: Float32Array, k: number, units: number): PairRows | null {
  if (units * units * 4 > PAIR_BYTES) return null;
  const { ratio, reach, byUnit } = bounds;
  const margins = bounds.singleMargins;
  const gaps = bounds.singleGaps;
  const { room, predictions, n } = intact;
  let found = new Int32Array(1 << 20);
  let size = 0;
  const order = new Int32Array(units);
  for (let s = 0; s < n; s++) {
    const at = s * units;
    let active = 0;
    for (let u = 0; u < units; u++) if (values[at + u] > 0) order[active++] = u;
    // Without margins, the units of ratio ≥ ½ first (a pair needs one), the rest after them in any order.
    let big = 0;
    if (!margins) {
      for (let x = 0; x < active; x++) {
        if (ratio[at + order[x]] >= 0.5) {
          const u = order[x];
          order[x] = order[big];
          order[big++] = u;
        }
      }
    }
    const sorted = margins ? order.subarray(0, active).sort((a, b) => margins[at + a] - margins[at + b]) : order;
    const t = predictions[s];
    for (let x = 0; x < active; x++) {
      const i = sorted[x];
      const reachI = reach[at + i];
      const marginI = margins ? margins[at + i] : 0;
      const ratioI = ratio[at + i];
      if (!margins && x >= big) break;
      // Each pair once, from its earlier unit.
      for (let y = x + 1; y < active; y++) {
        const j = sorted[y];
        if (margins) {
          if (margins[at + j] > reachI) break;
          if (reach[at + j] < marginI || ratioI + ratio[at + j] < 1) continue;
        } else if (ratioI + ratio[at + j] < 1) continue;
        // canFlip for two units: some class whose room both bounds reach, and each bound reaches the other's single gap.
        const gi = (t * units + i) * k;
        const gj = (t * units + j) * k;
        const si = (at + i) * k;
        const sj = (at + j) * k;
        const hi = values[at + i] * (1 + 1e-6);
        const hj = values[at + j] * (1 + 1e-6);
        let c = 0;
        for (; c < k; c++) {
          const bi = hi * byUnit[gi + c];
          const bj = hj * byUnit[gj + c];
          // room is Infinity at c = t. The single gaps carry their slack; NaN (not evaluated) passes.
          if (bi + bj >= room[s * k + c] && (!gaps || (!(bi < gaps[sj + c]) && !(bj < gaps[si + c])))) break;
        }
        if (c === k) continue;
        if (size + 2 > found.length) {
          if (found.length * 8 > PAIR_BYTES) return null;
          const grown = new Int32Array(found.length * 2);
          grown.set(found);
          found = grown;
        }
        found[size++] = i < j ? i * units + j : j * units + i;
        found[size++] = s;
      }
    }
  }
  // Counting sort by pair; samples stay ascending within each pair.
  const offsets = new Int32Array(units * units + 1);
  for (let r = 0; r < size; r += 2) offsets[found[r] + 1]++;
  for (let p = 0; p < units * units; p++) offsets[p + 1] += offsets[p];
  const fill = offsets.slice(0, units * units);
  const samples = new Int32Array(size / 2);
  for (let r = 0; r < size; r += 2) samples[fill[found[r]]++] = found[r + 1];
  return { offsets, samples };
}

/** LayerBounds.singleMargins from LayerBounds.singleGaps ([rows × k]). */
function marginsOf(gaps: Float32Array, rows: number, k: number): Float32Array {
  const margins = new Float32Array(rows).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    let min = Infinity;
    for (let c = 0; c < k; c++) min = Math.min(min, gaps[r * k + c]);
    // NaN (not evaluated) stays −Infinity: it prunes nothing.
    if (min === min) margins[r] = min;
  }
  return margins;
}

/**
 * LayerBounds.ratio and LayerBounds.reach from the gains (LayerBounds.byUnit), rounded up (× (1 + 1e-6)); float32 halves the memory the
 * pair checks walk, and the rounding up keeps each a bound.
 */
function ratiosOf(byUnit: Float64Array, values: Float32Array, intact: DenseIntact, k: number, units: number): { ratio: Float32Array; reach: Float32Array } {
  const { room, n, predictions } = intact;
  // Per (t, u): the largest gain over classes, so reach needs no loop and the ratio a cheap upper bound first.
  const maxGain = new Float64Array(k * units);
  for (let i = 0; i < k * units; i++) for (let c = 0; c < k; c++) maxGain[i] = Math.max(maxGain[i], byUnit[i * k + c]);
  const ratio = new Float32Array(n * units);
  const reach = new Float32Array(n * units);
  const inverse = new Float64Array(k);
  for (let s = 0; s < n; s++) {
    const t = predictions[s];
    // Where some gap has no room left, any active unit may flip the sample.
    let open = true;
    let maxInverse = 0;
    for (let c = 0; c < k; c++) {
      const r = room[s * k + c];
      if (r <= 0) open = false;
      inverse[c] = c === t ? 0 : 1 / r;
      if (inverse[c] > maxInverse) maxInverse = inverse[c];
    }
    for (let u = 0; u < units; u++) {
      const h = values[s * units + u];
      if (!(h > 0)) continue;
      const gain = maxGain[t * units + u];
      reach[s * units + u] = h * gain * (1 + 1e-6);
      if (!open) {
        ratio[s * units + u] = Infinity;
        continue;
      }
      // The bound with the largest gain over the smallest room is kept where it stays below ¼ (only conditions of
      // more than four units look that low); above, the class-by-class ratio.
      let max = gain * maxInverse;
      if (h * max >= 0.25) {
        const at = (t * units + u) * k;
        max = 0;
        for (let c = 0; c < k; c++) max = Math.max(max, byUnit[at + c] * inverse[c]);
      }
      // Active units keep a ratio > 0 even where the bound is 0, so "ratio > 0" means "active".
      ratio[s * units + u] = Math.max(h * max * (1 + 1e-6), 1e-30);
    }
  }
  return { ratio, reach };
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
 * Σ_i h[u_i]·W_{l+1}[:, u_i] over the row's `slots` units, then ReLU and the remaining layers; logits out.
 */
function gatherTailModel(chain: DenseChain, siteLayer: number, slots: number, loss: boolean): ModelProto {
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
  graph.initializer!.push(makeTensor("lesion.columns", [site.out + 1, next.out], columns));
  // Per slot i: −h_i (the row's site activation, negated, given) times that unit's weight column, added to the
  // cached pre-activation. One [rows, width] product per slot ran faster than a [rows, slots, width] one.
  const terms = Array.from({ length: slots }, (_, i) => [
    makeNode("Gather", ["lesion.columns", weightsInput(i)], [`lesion.w${i}`], `lesion/gather/w${i}`, { axis: 0 }),
    makeNode("Mul", [activationInput(i), `lesion.w${i}`], [`lesion.term${i}`], `lesion/mul/term${i}`),
  ]).flat();
  graph.node!.unshift(
    makeNode("Gather", [NEXT_INPUT, ROWS_INPUT], ["lesion.next_rows"], "lesion/gather/next", { axis: 0 }),
    ...terms,
    // A chain of Adds: a variadic Sum of three ran slower than two Adds. Where the site feeds the output layer, the
    // sum is the logits.
    ...Array.from({ length: slots }, (_, i) =>
      makeNode("Add", [i === 0 ? "lesion.next_rows" : `lesion.sum${i - 1}`, `lesion.term${i}`], [i < slots - 1 ? `lesion.sum${i}` : layers.length > 0 ? INPUT_NAME : OUTPUT_NAME], `lesion/add/term${i}`),
    ),
  );
  // The intact prediction's logit and the largest other one: JS reads two numbers per row, not k.
  const k = chain.layers[chain.layers.length - 1].out;
  graph.initializer!.push(makeTensor("lesion.classes", [1, k], Int32Array.from({ length: k }, (_, c) => c)), makeTensor("lesion.lowest", [1], Float32Array.of(-3.4e38)));
  graph.node!.push(
    makeNode("GatherElements", [OUTPUT_NAME, TARGETS_INPUT], [TOP_OUTPUT], "lesion/gather/top", { axis: 1 }),
    makeNode("Equal", ["lesion.classes", TARGETS_INPUT], ["lesion.is_target"], "lesion/equal/target"),
    makeNode("Where", ["lesion.is_target", "lesion.lowest", OUTPUT_NAME], ["lesion.others"], "lesion/where/others"),
    makeNode("ReduceMax", ["lesion.others"], [RUNNER_UP_OUTPUT], "lesion/max/others", { axes: [1], keepdims: 1 }),
  );
  graph.output!.push(makeValueInfo(TOP_OUTPUT, DataType.FLOAT, ["rows", 1]), makeValueInfo(RUNNER_UP_OUTPUT, DataType.FLOAT, ["rows", 1]));
  if (loss) {
    // Cross-entropy per row (float32, from the same logits), so JS does not take k exponentials per row.
    graph.node!.push(
      makeNode("LogSoftmax", [OUTPUT_NAME], ["lesion.log_probabilities"], "lesion/logsoftmax", { axis: 1 }),
      makeNode("GatherElements", ["lesion.log_probabilities", LABELS_INPUT], ["lesion.log_likelihood"], "lesion/gather/label", { axis: 1 }),
      makeNode("Neg", ["lesion.log_likelihood"], [LOSS_OUTPUT], "lesion/neg/loss"),
    );
    graph.output!.push(makeValueInfo(LOSS_OUTPUT, DataType.FLOAT, ["rows", 1]));
  }
  graph.input = [
    ...(loss ? [makeValueInfo(LABELS_INPUT, DataType.INT32, ["rows", 1])] : []),
    makeValueInfo(TARGETS_INPUT, DataType.INT32, ["rows", 1]),
    makeValueInfo(NEXT_INPUT, DataType.FLOAT, ["samples", next.out]),
    makeValueInfo(ROWS_INPUT, DataType.INT32, ["rows"]),
    ...Array.from({ length: slots }, (_, i) => makeValueInfo(activationInput(i), DataType.FLOAT, ["rows", 1])),
    ...Array.from({ length: slots }, (_, i) => makeValueInfo(weightsInput(i), DataType.INT32, ["rows"])),
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

/** The prediction from float64 logits: exact, ties toward the lower class. */
function exactPrediction(logits: Float64Array): number {
  const d = decide(logits);
  return d < 0 ? -1 - d : d;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail("aborted", "run aborted");
}
