/**
 * What the row-sampling paths (maskedSweep, convSweep) keep per condition while they evaluate the rows a condition can
 * change, and the SweepResult they make of it: every other sample keeps its intact prediction and loss.
 */
import type { UnitLayout } from "../model.js";
import type { Dataset } from "../../data/types.js";
import type { SweepResult } from "./types.js";

/** One condition's running tally: new predictions of changed samples, and its loss change. */
export interface ConditionTally {
  /** sample → its prediction under the condition, for samples whose prediction changed. */
  changed: Map<number, number>;
  /** Σ (ablated − intact) loss over evaluated rows whose intact loss is finite. */
  lossDelta: number;
  /** Σ ablated loss over evaluated rows whose intact loss is not finite. */
  lossOwn: number;
  /** Evaluated rows whose intact loss is not finite. */
  ownRows: number;
}

/** Empty tallies, one per condition. */
export function tallies(count: number): ConditionTally[] {
  return Array.from({ length: count }, () => ({ changed: new Map<number, number>(), lossDelta: 0, lossOwn: 0, ownRows: 0 }));
}

/** Whether any of `units`' values in one sample (from `offset`, laid out as `layout` says) is non-zero. */
export function anyActive(values: Float32Array, offset: number, units: readonly number[], layout: UnitLayout): boolean {
  const { plane, unitStride, step } = layout;
  for (const unit of units) {
    for (let p = 0, at = offset + unit * unitStride; p < plane; p++, at += step) if (values[at] !== 0) return true;
  }
  return false;
}

/**
 * The sweep's result from its tallies (`k` the model's classes): per-class correct counts, changed samples in ascending order, and each loss
 * sum (the intact sum plus the condition's change; NaN when a non-finite intact loss was not replaced by an evaluated
 * row's own).
 */
export function tallyResult(
  k: number,
  data: Dataset,
  intactPredictions: Int32Array,
  intactLoss: ArrayLike<number>,
  perCondition: readonly ConditionTally[],
  stats: { rowsEvaluated: number; ties: number; unresolvedTies: number; started: number },
): SweepResult {
  const correctPerClass = (predictionOf: (sample: number) => number) => {
    const counts = new Array<number>(k).fill(0);
    for (let s = 0; s < data.n; s++) if (predictionOf(s) === data.labels[s]) counts[data.labels[s]]++;
    return counts;
  };
  let intactLossSum = 0;
  let finiteLossSum = 0;
  let nonFinite = 0;
  for (let s = 0; s < intactLoss.length; s++) {
    intactLossSum += intactLoss[s];
    if (Number.isFinite(intactLoss[s])) finiteLossSum += intactLoss[s];
    else nonFinite++;
  }
  return {
    intact: { predictions: intactPredictions, correctPerClass: correctPerClass((s) => intactPredictions[s]), lossSum: intactLossSum },
    conditions: perCondition.map(({ changed, lossDelta, lossOwn, ownRows }) => {
      const samples = Int32Array.from([...changed.keys()].sort((a, b) => a - b));
      return {
        correctPerClass: correctPerClass((s) => changed.get(s) ?? intactPredictions[s]),
        changed: samples,
        changedPredictions: Int32Array.from(samples, (s) => changed.get(s)!),
        // A sample with a non-finite intact loss that the condition left unchanged keeps it.
        lossSum: nonFinite === 0 ? intactLossSum + lossDelta : ownRows === nonFinite ? finiteLossSum + lossDelta + lossOwn : Number.NaN,
      };
    }),
    stats: { rowsEvaluated: stats.rowsEvaluated, rowsFloat64: stats.ties - stats.unresolvedTies, unresolvedTies: stats.unresolvedTies, seconds: (performance.now() - stats.started) / 1000 },
  };
}
