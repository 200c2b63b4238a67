/**
 * Per-unit scores that order units for cumulative (fraction) ablation, largest first.
 * - selectivity (Morcos et al. 2018, "On the importance of single directions for generalization"):
 *   (μ_max − μ_rest) / (μ_max + μ_rest), μ_max the unit's largest class-mean activation and μ_rest the mean of its
 *   other class means; 0 for a unit whose class means are all 0. Defined for non-negative activations (ReLU); for
 *   others the absolute class means are used.
 *   Minimum activity: selectivity is undefined (null) for a unit active (output > 0) on fewer than
 *   max(10, ⌈0.1 % of the samples⌉) samples. Its class means then rest on a handful of images: a unit that fires on one
 *   image of 10,000 has selectivity 1 (every class mean but one is 0), which says nothing about the unit. Ten samples is
 *   the smallest count whose class means are not one image's noise, and 0.1 % keeps the rule meaningful on large data
 *   sets (10 of MNIST's 10,000 test images). A unit with null selectivity is left out of selectivity rankings, of the
 *   correlations that involve selectivity, and goes last in the selectivity order of cumulative ablation.
 * - impact (Meyes et al. 2019): the accuracy lost when the unit alone is zeroed.
 */
import type { Dataset } from "../data/types.js";
import { resolveSite, type LesionModel } from "../engine/model.js";
import { ablate } from "./ablate.js";
import { singles, type AblationMode } from "./conditions.js";
import type { Progress } from "../progress.js";
import { record } from "../engine/record.js";

/** Options of `unitScores`. */
export interface UnitScoresOptions {
  /** "selectivity": class selectivity from a recording; "impact": accuracy drop of each unit's single ablation (a fraction). */
  score: "selectivity" | "impact";
  /** Ablation mode for "impact". Default "zero". */
  mode?: AblationMode;
  /** Samples per onnxruntime run, as `record`'s and `ablate`'s. */
  batchSize?: number;
  /** Progress events of the recording ("record") or the ablations ("ablate"). */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/**
 * One score per unit of `siteName`, largest = ablated first. Selectivity is null for a unit below the minimum activity
 * (see `minActiveSamples`); impact is never null.
 * @throws LesionError `unknown-site`; and as `record` (selectivity) or `ablate` (impact).
 */
export async function unitScores(model: LesionModel, data: Dataset, siteName: string, options: UnitScoresOptions): Promise<Array<number | null>> {
  const site = resolveSite(model, siteName);
  if (options.score === "impact") {
    const result = await ablate(model, data, { conditions: singles(site, options.mode ?? "zero"), loss: false, batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal });
    // 0 − delta, not −delta: no change is +0, which JSON and CSV write as 0.
    return result.conditions.map((c) => 0 - c.delta);
  }
  const recording = await record(model, data, { sites: [site.name], batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal });
  const rec = recording.sites[0];
  return selectivity(rec.classMeans.data, rec.units, rec.emptyClasses, { fractionActive: rec.fractionActive, n: recording.n });
}

/** The fewest samples a unit must be active on (output > 0) for its selectivity to be defined: max(10, ⌈0.1 % of n⌉). Throws nothing. */
export function minActiveSamples(n: number): number {
  return Math.max(10, Math.ceil(0.001 * n));
}

/**
 * Class selectivity per unit (Morcos et al. 2018) from class-conditional means `classMeans` ([classes, units],
 * row-major), skipping `emptyClasses`. With `activity` (each unit's fraction of the `n` samples it is active on), a unit
 * active on fewer than `minActiveSamples(n)` samples gets null: its selectivity is undefined. Without it, no unit is
 * null (for class means of unknown provenance). Returns [units], each in 0..1 (absolute class means), 0 with fewer
 * than 2 classes. Throws nothing.
 */
export function selectivity(
  classMeans: ArrayLike<number>,
  units: number,
  emptyClasses: readonly number[] = [],
  activity?: { fractionActive: readonly number[]; n: number },
): Array<number | null> {
  const k = classMeans.length / units;
  const classes = Array.from({ length: k }, (_, c) => c).filter((c) => !emptyClasses.includes(c));
  const least = activity ? minActiveSamples(activity.n) : 0;
  return Array.from({ length: units }, (_, u) => {
    // fractionActive·n is an integer count; round away float error before comparing.
    if (activity && Math.round(activity.fractionActive[u] * activity.n) < least) return null;
    const values = classes.map((c) => Math.abs(classMeans[c * units + u]));
    if (values.length < 2) return 0;
    const max = Math.max(...values);
    const rest = (values.reduce((a, b) => a + b, 0) - max) / (values.length - 1);
    return max + rest === 0 ? 0 : (max - rest) / (max + rest);
  });
}
