/**
 * The rows of a dense sweep (src/engine/sweep/denseSweep.ts): per condition, the samples it must evaluate (steps 1, 3
 * and 4: active units, margin bounds, single outcomes reused) and the outcome each evaluated row records; the output
 * layer and the layer before it are evaluated here (z_u := 0, and the closed form of step 2), the other layers by
 * denseTail.ts.
 */
import { yieldThenCheck } from "../../errors.js";
import { exactActivations, exactPrediction, forward64 } from "./forward64.js";
import { ACTIVE, unitLists } from "./layerBounds.js";
import { crossEntropy, decide } from "./logits.js";
import { transposeMatrix } from "../../onnx/float64/kernels.js";
import type { DenseIntact, DenseSweepInput, LayerBounds, PairRows, SweepOutcome, SweepResult } from "./types.js";

/**
 * One denseSweep call's state: which rows each condition evaluates (rowsOf) and what they change (settle, record).
 * Its hot loops are methods, not closures made per call: V8 then compiles them once for every call, instead of
 * recompiling on background threads that compete with onnxruntime's for the cores.
 */
export class DenseRows {
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
  /** (condition, sample) rows whose float32 logits nearly tie, flattened: decided by settleTies. */
  private ties: number[] = [];
  private lossDeltas: Float64Array | null = null;
  private flips: (Int32Array | undefined)[] = [];

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
    const { input, k } = this;
    this.evaluated++;
    if (input.loss) this.addLoss(condition, sample, rowLoss === rowLoss ? rowLoss : crossEntropy(logits, input.labels[sample], 0, k));
    const best = decide(logits, 0, k);
    // A near tie waits for settleTies: the float64 pass runs once for all of them.
    if (best < 0) this.ties.push(condition, sample);
    else this.record(condition, sample, best);
  }

  /**
   * Decides the rows settle left as near ties in float64: the intact float64 activations of their samples in one
   * batch (exactActivations), then the layers after the site per row. Call once, after every row is settled.
   */
  async settleTies(): Promise<void> {
    const { input, intact, ties } = this;
    if (ties.length === 0) return;
    const samples = ties.filter((_, i) => i % 2 === 1);
    await exactActivations(input.model, input.chain, input.inputs, samples, intact.exact);
    for (let i = 0; i < ties.length; i += 2) {
      // Plain-JS float64 layers: an untrained network's many ties must not keep Ctrl-C waiting.
      await yieldThenCheck(input.signal);
      const [condition, sample] = [ties[i], ties[i + 1]];
      this.record(condition, sample, exactPrediction(forward64(input.chain, input.inputs, sample, input.siteLayer, input.conditions[condition], intact.exact)));
    }
    this.rowsFloat64 += ties.length / 2;
    ties.length = 0;
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
   * rowsOf for a pair, or a single, whose rows are listed (PairRows): where only one unit of a pair is active, the
   * single's outcome; where both are, the listed samples, of which those whose new prediction a loss kernel found
   * clear are recorded and the others returned for evaluation. (A method of its own: rowsOf's hot loops stay small.)
   */
  private listedRows(unitsOf: number[], c: number, pairRows: PairRows): number {
    const { units, rows } = this;
    const single = unitsOf.length === 1;
    const [i, j] = single ? [unitsOf[0], unitsOf[0]] : unitsOf[0] < unitsOf[1] ? unitsOf : [unitsOf[1], unitsOf[0]];
    if (!single) {
      this.recordAlone(c, i, j);
      this.recordAlone(c, j, i);
    }
    const pair = i * units + j;
    const [from, to] = [pairRows.offsets[pair], pairRows.offsets[pair + 1]];
    const classes = pairRows.classes;
    if (!classes) {
      rows.set(pairRows.samples.subarray(from, to));
      return to - from;
    }
    let count = 0;
    for (let r = from; r < to; r++) {
      if (classes[r] >= 0) this.record(c, pairRows.samples[r], classes[r]);
      else rows[count++] = pairRows.samples[r];
    }
    return count;
  }

  /**
   * Lists in `rows` the samples a condition must evaluate and returns their count: any active unit (with loss), else
   * those whose bound reaches the margin. A set of k units reaches it only if one of them has a ratio ≥ 1/k: the
   * per-unit lists at that threshold seed it.
   */
  rowsOf(unitsOf: number[], c: number): number {
    const { input, units, siteValues, rows, stamp, pairRows } = this;
    const bounds = this.bounds!;
    // Pairs, the long sweeps: candidates listed once per layer; singles too where a loss kernel listed them.
    if (pairRows && ((unitsOf.length === 2 && unitsOf[0] !== unitsOf[1]) || (unitsOf.length === 1 && pairRows.classes !== undefined))) return this.listedRows(unitsOf, c, pairRows);
    // Recording single gaps evaluates every active row: the exact gaps prune far more pairs than bounds would.
    const threshold = input.loss || input.gaps ? ACTIVE : 1 / unitsOf.length;
    const lists = unitLists(bounds, units, this.n, threshold);
    if (input.loss && this.reuse && unitsOf.length === 2 && unitsOf[0] !== unitsOf[1]) {
      // Pairs with loss: only samples where both units are active are evaluated. Where one is, the single's outcome;
      // its loss enters through the single's sum over its active samples, less the samples where both are. One pass
      // over the first unit's active samples, reading unit-major copies, without branches on the data.
      const [i, j] = unitsOf;
      const { n } = this;
      const active = this.activeByUnit();
      const deltas = this.singleLossDeltas();
      const list = lists[i];
      let count = 0;
      let both = 0;
      for (let x = 0, a = i * n, b = j * n; x < list.length; x++) {
        const s = list[x];
        rows[count] = s;
        const m = active[b + s] > 0 ? 1 : 0;
        count += m;
        both += m * (deltas[a + s] + deltas[b + s]);
      }
      this.recordAlone(c, i, j);
      this.recordAlone(c, j, i);
      this.outcomes[c].lossDelta += bounds.singleLossSums![i] + bounds.singleLossSums![j] - both;
      return count;
    }
    // With loss the ratios are never computed (every active row is evaluated).
    const ratio = input.loss ? null : bounds.ratio;
    let count = 0;
    for (const u of unitsOf) {
      const list = lists[u];
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (stamp[s] === c + 1) continue;
        stamp[s] = c + 1;
        if (unitsOf.length > 1) {
          let active = 0;
          let only = -1;
          for (const v of unitsOf) if (siteValues[s * units + v] > 0) (active++, (only = v));
          if (this.reuse && active === 1) {
            const single = bounds.singles.get(only)!.get(s);
            if (single !== undefined) this.record(c, s, single);
            if (input.loss) this.outcomes[c].lossDelta += bounds.singleLosses![s * units + only] - this.intact.loss[s];
            continue;
          }
          if (ratio) {
            let sum = 0;
            for (const v of unitsOf) sum += ratio[s * units + v];
            if (sum < 1 || !this.canFlip(unitsOf, s)) continue;
          }
        }
        rows[count++] = s;
      }
    }
    return count;
  }

  /** The site is the output layer: z_u := 0. Every row may change; the work per row is |U| + K. */
  async logits(): Promise<void> {
    const { input, k, n } = this;
    const logits = this.intact.pre[input.chain.layers.length - 1];
    const row = new Float64Array(k);
    for (let c = 0; c < input.conditions.length; c++) {
      await yieldThenCheck(input.signal);
      const unitsOf = input.conditions[c];
      for (let s = 0; s < n; s++) {
        if (!unitsOf.some((u) => logits[s * k + u] !== 0)) continue;
        for (let j = 0; j < k; j++) row[j] = logits[s * k + j];
        for (const u of unitsOf) row[u] = 0;
        this.settle(c, s, row);
      }
      input.onProgress?.(c + 1, input.conditions.length);
    }
  }

  /** Records the single p's changed predictions where q is inactive (condition c's outcome there). */
  private recordAlone(c: number, p: number, q: number): void {
    let flips = this.flips[p];
    if (!flips) {
      // The single's Map flattened once: a pairs sweep walks it for each of the unit's pairs.
      const changed = this.bounds!.singles.get(p)!;
      flips = this.flips[p] = new Int32Array(2 * changed.size);
      let x = 0;
      for (const [s, best] of changed) (flips[x++] = s), (flips[x++] = best);
    }
    const { siteValues, units } = this;
    // siteValues are pre-activations: q is inactive at ≤ 0.
    for (let x = 0; x < flips.length; x += 2) if (!(siteValues[flips[x] * units + q] > 0)) this.record(c, flips[x], flips[x + 1]);
  }

  /** The site's activations (ReLU applied), unit-major [units, n], kept with the layer's bounds for every call. */
  activeByUnit(): Float32Array {
    return this.bounds!.activeByUnit;
  }

  /**
   * Each single's change of a sample's loss (LayerBounds.singleLosses less the intact loss), unit-major [units, n]; 0
   * where the unit is inactive.
   */
  private singleLossDeltas(): Float64Array {
    if (this.lossDeltas) return this.lossDeltas;
    const { n, units } = this;
    const losses = this.bounds!.singleLosses!;
    const intactLoss = this.intact.loss;
    const active = this.activeByUnit();
    const deltas = (this.lossDeltas = new Float64Array(units * n));
    for (let s = 0; s < n; s++) for (let u = 0; u < units; u++) if (active[u * n + s] > 0) deltas[u * n + s] = losses[s * units + u] - intactLoss[s];
    return deltas;
  }

  /** The site feeds the output layer: the new logits are the cached ones minus Σ_u h_u·W_out[:,u]. */
  async closedForm(): Promise<void> {
    const { input, k, units } = this;
    const nextPre = this.intact.pre[input.siteLayer + 1];
    const columns = transposeMatrix(input.chain.layers[input.siteLayer + 1].weight, k, units);
    const row = new Float64Array(k);
    for (let c = 0; c < input.conditions.length; c++) {
      await yieldThenCheck(input.signal);
      this.closedFormRows(c, this.rowsOf(input.conditions[c], c), nextPre, columns, row);
      input.onProgress?.(c + 1, input.conditions.length);
    }
  }

  /** Settles condition c's first `count` rows from the closed form (a method: compiled once, see the class). */
  private closedFormRows(c: number, count: number, nextPre: Float32Array, columns: Float64Array, row: Float64Array): void {
    const { k, units, siteValues, rows } = this;
    const unitsOf = this.input.conditions[c];
    for (let r = 0; r < count; r++) {
      const s = rows[r];
      for (let j = 0; j < k; j++) row[j] = nextPre[s * k + j];
      for (let x = 0; x < unitsOf.length; x++) {
        const u = unitsOf[x];
        const h = siteValues[s * units + u];
        const column = u * k;
        if (h > 0) for (let j = 0; j < k; j++) row[j] -= h * columns[column + j];
      }
      this.settle(c, s, row);
    }
  }
}

export interface Accumulator {
  /** (sample, new prediction) pairs, flattened. */
  changed: number[];
  correctDelta: number[];
  lossDelta: number;
}

/** The sweep's answer: each condition's counts, changed samples (ascending) and summed loss against the intact pass. */
export function finish(intact: DenseIntact, outcomes: Accumulator[], stats: Omit<SweepResult["stats"], "seconds">, loss: boolean, started: number): SweepResult {
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

