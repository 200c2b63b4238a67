/**
 * Bootstrap confidence intervals over images for each condition's overall accuracy change (Efron & Tibshirani 1993,
 * the percentile interval), so a reader can tell a 0.1 pp effect from noise.
 *
 * Method: each image i contributes d_i = [correct after ablation] − [correct intact] ∈ {−1, 0, 1}, and the change is
 * mean(d). A replicate draws n images with replacement (seeded: the project's Mulberry32 generator, `seed`), and its
 * change is Σ c_i d_i / n with c_i the times image i was drawn. All conditions share the same replicates (a paired
 * bootstrap: the intervals of two conditions are computed on the same resampled data sets). The interval is the
 * (1 − level)/2 and (1 + level)/2 quantiles of the replicate changes, linearly interpolated (numpy's default).
 * Only images whose prediction changed under some condition have d_i ≠ 0, so only their counts are kept: cost
 * O(replicates · (n + changed rows)), memory O(replicates · changed images).
 *
 * Kept apart from `ablate` on purpose: it needs only the result's intact predictions and changed predictions plus the
 * labels, so it adds CI columns to any ablation result (ablate's CSV and summary, the study's steps).
 */
import { fail } from "../errors.js";
import { seeded } from "../random.js";
import type { AblateResult } from "./ablate.js";

export interface DeltaIntervalsOptions {
  /** Bootstrap replicates. Default 1000. */
  replicates?: number;
  /** Seed of the resampling. Default 0. */
  seed?: number;
  /** Coverage of the interval, in (0, 1). Default 0.95. */
  level?: number;
}

export interface DeltaIntervals {
  replicates: number;
  seed: number;
  level: number;
  /** Per condition (result order): [low, high] of the accuracy change (fractions; negative = loss). */
  intervals: Array<[number, number]>;
}

/**
 * Percentile bootstrap intervals of each condition's `delta` over the `labels.length` images. Throws LesionError
 * `bad-option` for a level outside (0, 1) or fewer than 2 replicates, `shape-mismatch` when `labels` and the result's
 * predictions differ in length.
 */
export function deltaIntervals(result: Pick<AblateResult, "predictions" | "changes">, labels: ArrayLike<number>, options: DeltaIntervalsOptions = {}): DeltaIntervals {
  const replicates = options.replicates ?? 1000;
  const seed = options.seed ?? 0;
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) fail("bad-option", `the confidence level must lie in (0, 1), got ${level}`);
  if (!Number.isInteger(replicates) || replicates < 2) fail("bad-option", `bootstrap replicates must be an integer ≥ 2, got ${replicates}`);
  const n = labels.length;
  if (result.predictions.length !== n) fail("shape-mismatch", `the ablation result has ${result.predictions.length} predictions but the data has ${n} labels`);
  // Images that change under some condition, numbered densely.
  const slot = new Int32Array(n).fill(-1);
  let changed = 0;
  for (const c of result.changes) for (const s of c.samples) if (slot[s] < 0) slot[s] = changed++;
  // counts[b * changed + slot]: how often replicate b drew that image.
  const counts = new Uint16Array(replicates * changed);
  const rand = seeded(seed);
  for (let b = 0; b < replicates; b++) {
    const row = b * changed;
    for (let i = 0; i < n; i++) {
      const s = slot[Math.floor(rand() * n)];
      if (s >= 0) counts[row + s]++;
    }
  }
  const values = new Float64Array(replicates);
  const intervals = result.changes.map((c): [number, number] => {
    const d: number[] = [];
    const at: number[] = [];
    for (let j = 0; j < c.samples.length; j++) {
      const s = c.samples[j];
      const diff = (c.predictions[j] === labels[s] ? 1 : 0) - (result.predictions[s] === labels[s] ? 1 : 0);
      if (diff !== 0) (d.push(diff), at.push(slot[s]));
    }
    for (let b = 0; b < replicates; b++) {
      let sum = 0;
      const row = b * changed;
      for (let j = 0; j < d.length; j++) sum += counts[row + at[j]] * d[j];
      values[b] = sum / n;
    }
    values.sort();
    return [quantile(values, (1 - level) / 2), quantile(values, (1 + level) / 2)];
  });
  return { replicates, seed, level, intervals };
}

/** numpy.quantile's default (linear) on sorted values. */
function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
