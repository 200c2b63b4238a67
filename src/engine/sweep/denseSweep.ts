/**
 * The fast exact sweep for dense chains (MLPs with ReLU). Every number is exact; only work that provably cannot
 * change an answer is skipped:
 * 1. One intact forward pass caches every layer's pre-activation. Zeroing units of layer l changes nothing on a
 *    sample where none of them is active, so only (condition, sample) rows with an active unit are evaluated.
 * 2. An evaluated row starts from the cached pre-activation of layer l+1 minus a rank-|U| correction
 *    Σ_u h_u·W_{l+1}[:,u] and runs only the layers after it (batched through onnxruntime: tailModel.ts); where l
 *    feeds the output layer, the new logits are that correction alone (closed form, no GEMM).
 * 3. Without loss, a row is skipped when, for every class c, a bound on how far the ablation can lower the gap
 *    z_t − z_c stays below that gap (layerBounds.ts: exact where the site feeds the output layer, interval
 *    propagation through the ReLUs before). For a set of units the bounds add up; and starting from the exact gaps
 *    a single leaves, the other units' bounds must reach those too, which prunes most pairs (their candidates are
 *    listed once per layer). Gaps are taken with slack (0.999·gap − 1e-5, − 1e-4 for single gaps) so rounding never
 *    prunes a row that could flip.
 * 4. A multi-unit condition on a sample where only one of its units is active equals that unit's single ablation
 *    there; the single's exact outcome (and loss) is reused.
 * With loss, where the site feeds the output layer the loss is a closed form of cached values (closedFormLoss.ts) and
 * the predictions take the pruned path; before, every row where an ablated unit is active is evaluated (elsewhere
 * the loss is the intact one).
 * 5. float32 decides unless its top two logits nearly tie (logits.ts); those rows, and the intact network's own near
 *    ties, are recomputed in float64 from the input (forward64.ts).
 * Algorithm and measurements: shared note "fast-exact-sweep"; benchmark: bench/ablation.mjs.
 */
import { fail, throwIfAborted } from "../../errors.js";
import { OUTPUT_NAME } from "../../onnx/build.js";
import type { DenseChain } from "../../onnx/chain.js";
import { getSession, type LesionModel } from "../model.js";
import { OrtTensor } from "../ort.js";
import { closedFormLoss } from "./closedFormLoss.js";
import { denseIntact } from "./denseIntact.js";
import { exactPrediction, forward64 } from "./forward64.js";
import { candidatePairs, layerBounds, marginsOf, PAIR_BYTES, unitLists } from "./layerBounds.js";
import { crossEntropy, decide, TIE_MARGIN } from "./logits.js";
import type { DenseIntact, LayerBounds, PairRows, SweepOutcome, SweepResult } from "./types.js";
import { activationInput, LABELS_INPUT, LOSS_OUTPUT, NEXT_INPUT, ROWS_INPUT, RUNNER_UP_OUTPUT, tailModel, TARGETS_INPUT, TOP_OUTPUT, weightsInput } from "./tailModel.js";
import { transposeMatrix } from "../../onnx/float64/kernels.js";

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

/** Rows per onnxruntime run of the layers after the site: 8-16k ran fastest (shared note). */
const CHUNK_ROWS = 12288;

/** Bound on the gathered weight rows of one run (rows × units per condition × width × 4 bytes). */
const CHUNK_BYTES = 64 * 2 ** 20;

export async function denseSweep(input: DenseSweepInput): Promise<SweepResult> {
  const started = performance.now();
  const { model, chain, siteLayer, inputs, labels, conditions } = input;
  const last = chain.layers.length - 1;
  const site = chain.layers[siteLayer];
  for (const units of conditions) for (const u of units) if (!(u >= 0 && u < site.out)) fail("unit-out-of-range", `unit ${u} is out of range for site ${site.name} (0..${site.out - 1})`, { site: site.name, unit: u, units: site.out });
  const intact = input.intact ?? (await denseIntact(model, chain, inputs, labels));
  if (input.loss && siteLayer + 1 === last && !input.losses) return withClosedFormLoss(input, intact, started);
  const sweep = new Sweep(input, intact);
  if (siteLayer === last) {
    sweep.logits();
  } else {
    const bounds = layerBounds(chain, siteLayer, intact);
    // A multi-unit condition on a sample where only one of its units is active is that unit's single ablation there
    // (zeroing an inactive ReLU unit changes nothing): its exact outcome (and loss) is reused, not recomputed.
    const reuse = conditions.some((c) => c.length > 1) && (await prepareSingles(input, intact, bounds));
    // Pair candidates are listed once per layer, among the units of the pairs asked for, where the pairs outnumber
    // those units (a sweep of all pairs); a later call reuses them if they cover its units.
    const wanted = new Uint8Array(site.out);
    let pairCount = 0;
    for (const c of conditions) {
      if (c.length !== 2 || c[0] === c[1]) continue;
      pairCount++;
      wanted[c[0]] = wanted[c[1]] = 1;
    }
    const listPairs = reuse && !input.loss && pairCount >= wanted.reduce((sum, w) => sum + w, 0);
    const listed = bounds.pairs;
    if (listPairs && !(listed && wanted.every((w, u) => w === 0 || listed.units[u] === 1))) {
      bounds.pairs = { units: wanted, rows: candidatePairs(bounds, intact, intact.pre[siteLayer], sweep.k, site.out, wanted) };
    }
    sweep.prune(bounds, reuse, listPairs ? bounds.pairs!.rows : null);
    // With loss here (a single's rows stored for pairs to reuse) every active row is evaluated: onnxruntime then runs
    // even the closed form faster than JS.
    if (siteLayer + 1 === last && !input.loss) sweep.closedForm();
    else await sweep.tail();
  }
  return finish(intact, sweep.outcomes, { rowsEvaluated: sweep.evaluated, rowsFloat64: sweep.rowsFloat64, unresolvedTies: 0 }, input.loss, started);
}


/**
 * Where the site feeds the output layer, the loss is a closed form of the cached logits and activations
 * (closedFormLoss.ts): computed on every row where a unit is active, while the predictions come from the pruned
 * sweep without loss. rowsEvaluated counts the loss rows (the decided rows are among them).
 */
async function withClosedFormLoss(input: DenseSweepInput, intact: DenseIntact, started: number): Promise<SweepResult> {
  const { chain, siteLayer } = input;
  const out = chain.layers[siteLayer + 1];
  let cache = intact.lossSums.get(siteLayer);
  if (!cache) intact.lossSums.set(siteLayer, (cache = { units: null, singles: null, pairs: null }));
  const { deltas, rows } = closedFormLoss({
    cache,
    logits: intact.pre[siteLayer + 1],
    values: intact.pre[siteLayer],
    weight: out.weight,
    labels: input.labels,
    conditions: input.conditions,
    k: out.out,
    units: out.in,
  });
  const decided = await denseSweep({ ...input, intact, loss: false });
  return {
    ...decided,
    conditions: decided.conditions.map((c, i) => ({ ...c, lossSum: intact.lossSum + deltas[i] })),
    stats: { ...decided.stats, rowsEvaluated: rows, seconds: (performance.now() - started) / 1000 },
  };
}

/**
 * Runs the singles a multi-unit sweep reuses (LayerBounds.singles) and records what its mode needs: with loss, each
 * row's loss and each unit's summed change of it; without, each row's gaps, which tighten the bound of the others
 * (not where the site feeds the output layer: the gains are exact there). Returns whether the singles can be reused
 * (not with loss where their losses would outgrow PAIR_BYTES).
 */
async function prepareSingles(input: DenseSweepInput, intact: DenseIntact, bounds: LayerBounds): Promise<boolean> {
  const { chain, siteLayer, conditions } = input;
  const last = chain.layers.length - 1;
  const k = chain.layers[last].out;
  const units = chain.layers[siteLayer].out;
  const n = intact.n;
  const record = input.loss ? (n * units * 8 <= PAIR_BYTES ? "losses" : null) : siteLayer + 1 < last && n * units * k * 4 <= PAIR_BYTES ? "gaps" : "outcomes";
  if (record === null) return false;
  const done = record === "losses" ? bounds.lossUnits : record === "gaps" ? bounds.gapUnits : bounds.singles;
  const missing = [...new Set(conditions.flat())].filter((u) => !done.has(u));
  if (missing.length === 0) return true;
  if (record === "losses") bounds.singleLosses ??= new Float64Array(n * units).fill(NaN);
  if (record === "gaps") bounds.singleGaps ??= new Float32Array(n * units * k).fill(NaN);
  const alone = await denseSweep({
    ...input,
    intact,
    conditions: missing.map((u) => [u]),
    gaps: record === "gaps" ? bounds.singleGaps! : undefined,
    losses: record === "losses" ? bounds.singleLosses! : undefined,
    onProgress: undefined,
  });
  const values = intact.pre[siteLayer];
  missing.forEach((u, i) => {
    const { changed, changedPredictions } = alone.conditions[i];
    bounds.singles.set(u, new Map(Array.from(changed, (s, j) => [s, changedPredictions[j]])));
    if (record === "gaps") bounds.gapUnits.add(u);
    if (record === "losses") {
      bounds.lossUnits.add(u);
      bounds.singleLossSums ??= new Float64Array(units).fill(NaN);
      let sum = 0;
      for (let s = 0; s < n; s++) if (values[s * units + u] > 0) sum += bounds.singleLosses![s * units + u] - intact.loss[s];
      bounds.singleLossSums[u] = sum;
    }
  });
  if (record === "gaps") bounds.singleMargins = marginsOf(bounds.singleGaps!, n * units, k);
  return true;
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
   * Float64Array: one element type keeps this hot call monomorphic. With loss, rowLoss is the row's cross-entropy
   * from the tail graph, or NaN to compute it here.
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

  /** A row's change of the summed loss; a single's row also stores its loss in input.losses. */
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
  noteGaps(condition: number, sample: number, logits: Float32Array, from: number): void {
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
    const { byUnit } = this.bounds!;
    const room = this.intact.room;
    const t = this.intact.predictions[s];
    for (let c = 0; c < k; c++) {
      if (c === t) continue;
      let total = 0;
      // siteValues are pre-activations: an inactive unit (≤ 0) moves nothing.
      for (const u of unitsOf) total += Math.max(0, siteValues[s * units + u]) * byUnit[(t * units + u) * k + c];
      total *= 1 + 1e-6;
      if (total < room[s * k + c]) continue;
      let others = true;
      if (singleGaps) {
        for (const j of unitsOf) {
          if (total - Math.max(0, siteValues[s * units + j]) * byUnit[(t * units + j) * k + c] < singleGaps[(s * units + j) * k + c]) {
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
        if (unitsOf.length > 1) {
          // ratio is 0 exactly where a unit is inactive.
          let sum = 0;
          let active = 0;
          let only = -1;
          for (const v of unitsOf) {
            const r = ratio[s * units + v];
            sum += r;
            if (r > 0) (active++, (only = v));
          }
          if (this.reuse && active === 1) {
            const single = bounds.singles.get(only)!.get(s);
            if (single !== undefined) this.record(c, s, single);
            if (input.loss) this.outcomes[c].lossDelta += bounds.singleLosses![s * units + only] - this.intact.loss[s];
            continue;
          }
          if (!input.loss && (sum < 1 || !this.canFlip(unitsOf, s))) continue;
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
      throwIfAborted(input.signal);
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
    const columns = transposeMatrix(input.chain.layers[input.siteLayer + 1].weight, k, units);
    const row = new Float64Array(k);
    input.conditions.forEach((unitsOf, c) => {
      throwIfAborted(input.signal);
      const count = this.rowsOf(unitsOf, c);
      for (let r = 0; r < count; r++) {
        const s = rows[r];
        for (let j = 0; j < k; j++) row[j] = nextPre[s * k + j];
        for (const u of unitsOf) {
          const h = siteValues[s * units + u];
          const column = u * k;
          if (h > 0) for (let j = 0; j < k; j++) row[j] -= h * columns[column + j];
        }
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
    const slots = conditions.reduce((max, c) => Math.max(max, c.length), 1);
    const session = await getSession(model, `dense:tail:${siteLayer}:${slots}:${input.loss ? "loss" : "plain"}`, () => tailModel(chain, siteLayer, slots, input.loss));
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
      throwIfAborted(input.signal);
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
