/**
 * The sweep engine's shared types: what a sweep is asked (conditions at one site), what it answers (per-condition
 * outcomes against the intact network), and the dense path's intact-pass caches. One file so the engine's modules
 * import types from here and never from each other in a circle.
 */
import type { DenseChain } from "../../onnx/chain.js";
import type { LesionModel } from "../model.js";

/** One condition as the engine sees it: units of one site and how they are ablated. */
export interface SweepCondition {
  /** The ablated units (0-based, within the site). */
  units: number[];
  /** "zero": outputs forced to 0; "mean": to their mean over the data (`SweepInput.means`). */
  mode: "zero" | "mean";
}

/** What one condition changed: counts per class, the samples whose prediction moved, and the summed loss. */
export interface SweepOutcome {
  /** Per class [classes]: samples of the class predicted right with the condition (counts, not fractions). */
  correctPerClass: number[];
  /** Ascending indices of samples whose prediction differs from the intact network's. */
  changed: Int32Array;
  /** Beside `changed`: each changed sample's new prediction (a class). */
  changedPredictions: Int32Array;
  /**
   * Cross-entropy (nats) summed over all samples with the condition; null where not computed (`loss` false on the
   * dense path); NaN where the intact loss of a sample is not finite and cannot be carried over.
   */
  lossSum: number | null;
}

/** A sweep's answer: the intact network, one outcome per condition (in order), and what it cost. */
export interface SweepResult {
  /** The intact network: predictions [n] (float64-exact), right answers per class [classes], summed loss (nats). */
  intact: { predictions: Int32Array; correctPerClass: number[]; lossSum: number };
  /** One outcome per condition, in the order asked. */
  conditions: SweepOutcome[];
  /**
   * Cost: rows (sample × condition) evaluated, near ties rechecked in float64, ties left unresolved (0: every
   * prediction exact), wall-clock seconds.
   */
  stats: { rowsEvaluated: number; rowsFloat64: number; unresolvedTies: number; seconds: number };
}

/** The dense path's intact pass (denseIntact.ts), shared by every dense sweep on the same inputs. */
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
  /** Per site layer that feeds the output layer: its closed-form loss sums so far (closedFormLoss.ts). */
  lossSums: Map<number, PairLossCache>;
}

export interface LayerBounds {
  /** [n × units]: the site layer's pre-activations (a unit is active where > 0). */
  values: Float32Array;
  /** [units × n]: the site's activations (ReLU applied), unit-major: a unit's samples side by side (made on first use). */
  readonly activeByUnit: Float32Array;
  /** gapGains of the layer as [k × units × k] (t, u, c): a unit's classes side by side. */
  readonly byUnit: Float64Array;
  /**
   * [n × units]: an upper bound on max over classes of h_u·gain / room, how much of the room zeroing the unit takes;
   * a set of units can flip the sample only if its ratios sum to ≥ 1. 0 exactly where the unit is inactive (nothing
   * changes), Infinity where the margin leaves no room.
   */
  readonly ratio: Float32Array;
  /** [n × units]: h_u·max over classes of gain (rounded up): no gap falls further when u is zeroed. */
  readonly reach: Float32Array;
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
   * The pair candidates listed so far: among which units (1 = listed), and per pair i < j of them (index
   * i·units + j) the samples where both are active and the pair can flip, ascending; rows null where the lists would
   * outgrow PAIR_BYTES.
   */
  pairs?: { units: Uint8Array; rows: PairRows | null };
}

/**
 * The single and pair rows whose prediction may differ from the intact one, as a hidden layer's loss kernel finds them
 * (hiddenLoss.ts): the units active, and the row's new logits from cached values (float64) not clearly the intact
 * prediction's. `cells[r]` = i·units + j of row r (i < j for a pair, i = j for a single), `samples[r]` its sample (in
 * sample order), `classes[r]` its new prediction where those logits make it clear, −1 where the row must be evaluated.
 */
export interface PairCandidates {
  cells: Int32Array;
  samples: Int32Array;
  classes: Int32Array;
}

/**
 * Per pair cell i·units + j (i < j; i = j for a single, where a loss kernel listed singles), the samples to evaluate:
 * samples[offsets[cell] .. offsets[cell + 1]), ascending.
 */
export interface PairRows {
  offsets: Int32Array;
  samples: Int32Array;
  /** Beside samples, where known without evaluation: the row's new prediction (−1: evaluate it). */
  classes?: Int32Array;
}

/** closedFormLoss's sums for the units in `units` (1 = covered): singles, and all their pairs where `pairs` is set. */
export interface PairLossCache {
  /**
   * These sums being computed ahead in a worker thread (denseLossAhead), until it answers: a sweep that needs them
   * waits for it (`ref` lets it keep the process alive while waited for).
   */
  ahead?: { wait(): Promise<{ rows: number }>; ref(): void } | null;
  units: Uint8Array | null;
  singles: Float64Array | null;
  /** [units × units], i < j: Σ ΔL_ij over samples where both are active, less the singles' share. */
  pairs: Float64Array | null;
  /** With the pairs of a hidden layer's kernel: the single and pair rows that may change their prediction (hiddenLoss.ts). */
  candidates?: PairCandidates | null;
}

/** One dense sweep (denseSweep.ts): conditions of zeroed units at one layer of a dense chain. */
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
