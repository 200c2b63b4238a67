/**
 * Per-unit scores that order units for cumulative (fraction) ablation, largest first.
 * - selectivity (Morcos et al. 2018, "On the importance of single directions for generalization"):
 *   (μ_max − μ_rest) / (μ_max + μ_rest), μ_max the unit's largest class-mean activation and μ_rest the mean of its
 *   other class means; 0 for a unit whose class means are all 0. Defined for non-negative activations (ReLU); for
 *   others the absolute class means are used.
 * - impact (Meyes et al. 2019): the accuracy lost when the unit alone is zeroed.
 */
import type { Dataset } from "../data/types.js";
import { resolveSite, type LesionModel } from "../engine/model.js";
import { ablate } from "./ablate.js";
import { singles, type AblationMode } from "./conditions.js";
import type { Progress } from "./progress.js";
import { record } from "./record.js";

export interface UnitScoresOptions {
  score: "selectivity" | "impact";
  /** Ablation mode for "impact". Default "zero". */
  mode?: AblationMode;
  batchSize?: number;
  onProgress?: (event: Progress) => void;
  signal?: AbortSignal;
}

export async function unitScores(model: LesionModel, data: Dataset, siteName: string, options: UnitScoresOptions): Promise<number[]> {
  const site = resolveSite(model, siteName);
  if (options.score === "impact") {
    const result = await ablate(model, data, { conditions: singles(site, options.mode ?? "zero"), loss: false, batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal });
    // 0 − delta, not −delta: no change is +0, which JSON and CSV write as 0.
    return result.conditions.map((c) => 0 - c.delta);
  }
  const recording = await record(model, data, { sites: [site.name], batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal });
  return selectivity(recording.sites[0].classMeans.data, recording.sites[0].units, recording.sites[0].emptyClasses);
}

export function selectivity(classMeans: ArrayLike<number>, units: number, emptyClasses: readonly number[] = []): number[] {
  const k = classMeans.length / units;
  const classes = Array.from({ length: k }, (_, c) => c).filter((c) => !emptyClasses.includes(c));
  return Array.from({ length: units }, (_, u) => {
    const values = classes.map((c) => Math.abs(classMeans[c * units + u]));
    if (values.length < 2) return 0;
    const max = Math.max(...values);
    const rest = (values.reduce((a, b) => a + b, 0) - max) / (values.length - 1);
    return max + rest === 0 ? 0 : (max - rest) / (max + rest);
  });
}
