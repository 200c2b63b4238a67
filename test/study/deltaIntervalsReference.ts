/**
 * The previous implementation of deltaIntervals (src/study/deltaIntervals.ts before the CDF walk): the exact pmf
 * method, which sums the whole distribution of C_G − C_L (one binomial window stepped per C_L value) and reads the
 * quantiles off its running sum. Kept verbatim (imports aside; `exactInterval` exported) as the reference the
 * faster implementation must equal bit for bit (test/study/deltaIntervalsOld.test.ts) and as the "old" row of
 * bench/delta-intervals.mjs. Not part of the library.
 */
/**
 * Bootstrap confidence intervals over images for each condition's overall accuracy change (Efron & Tibshirani 1993,
 * the percentile interval), so a reader can tell a 0.1 pp effect from noise.
 *
 * Method: each image i contributes d_i = [correct after ablation] − [correct intact] ∈ {−1, 0, 1}; the change is
 * mean(d). A bootstrap replicate draws n images with replacement. Only the L lost images (d = −1) and the G gained
 * ones (d = +1) matter, and they are exchangeable, so the replicate's change is (C_G − C_L)/n with
 * (C_L, C_G) ~ Multinomial(n; L/n, G/n): C_L ~ Binomial(n, L/n) and C_G | C_L ~ Binomial(n − C_L, G/(n − L)).
 * lesion computes that distribution exactly (the limit of infinitely many replicates) instead of sampling it: the
 * interval is then free of Monte Carlo error, needs no seed, is identical on every run, and costs O(√L·√G) per
 * distinct (L, G) rather than O(replicates · n) per run (1,000 sampled replicates took 8 s on a 4,950-pair sweep of
 * MNIST here; the exact form takes well under a second). The bounds are the (1 − level)/2 and (1 + level)/2
 * quantiles (the smallest change whose cumulative probability reaches them, as scipy's `ppf`).
 *
 * Kept apart from `ablate` on purpose: it needs only the result's intact and changed predictions plus the labels,
 * so it adds CI columns to any ablation result (ablate's CSV and summary, the study's steps).
 */
import { fail } from "../../src/errors.js";
import type { AblateResult } from "../../src/study/ablate.js";

export interface DeltaIntervalsOptions {
  /** Coverage of the interval, in (0, 1). Default 0.95. */
  level?: number;
}

export interface DeltaIntervals {
  /** How the intervals were computed: the percentile interval of the exact bootstrap distribution over images. */
  method: "bootstrap-exact";
  level: number;
  /** Per condition (result order): [low, high] of the accuracy change (fractions; negative = loss). */
  intervals: Array<[number, number]>;
}

/**
 * Bootstrap percentile intervals of each condition's `delta` over the `labels.length` images. Throws LesionError
 * `bad-option` for a level outside (0, 1), `shape-mismatch` when `labels` and the result's predictions differ in
 * length.
 */
export function deltaIntervals(result: Pick<AblateResult, "predictions" | "changes">, labels: ArrayLike<number>, options: DeltaIntervalsOptions = {}): DeltaIntervals {
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) fail("bad-option", `the confidence level must lie in (0, 1), got ${level}`, { options: ["level"], value: level });
  const n = labels.length;
  if (result.predictions.length !== n) fail("shape-mismatch", `the ablation result has ${result.predictions.length} predictions but the data has ${n} labels`, { expected: [n], actual: [result.predictions.length] });
  const cache = new Map<number, [number, number]>();
  const intervals = result.changes.map((c): [number, number] => {
    let lost = 0;
    let gained = 0;
    for (let j = 0; j < c.samples.length; j++) {
      const s = c.samples[j];
      const diff = (c.predictions[j] === labels[s] ? 1 : 0) - (result.predictions[s] === labels[s] ? 1 : 0);
      if (diff < 0) lost++;
      else if (diff > 0) gained++;
    }
    const key = lost * (n + 1) + gained;
    let interval = cache.get(key);
    if (!interval) cache.set(key, (interval = exactInterval(n, lost, gained, level)));
    return [interval[0], interval[1]];
  });
  return { method: "bootstrap-exact", level, intervals };
}

/** The percentile interval of (C_G − C_L)/n, C_L ~ Bin(n, L/n), C_G | C_L ~ Bin(n − C_L, G/(n − L)). */
export function exactInterval(n: number, lost: number, gained: number, level: number): [number, number] {
  if (lost === 0 && gained === 0) return [0, 0];
  const byLost = binomial(n, lost / n);
  const q = n - lost > 0 ? gained / (n - lost) : 0;
  const lowest = byLost.start + byLost.values.length - 1;
  // Bin(m, q) for m = n − a, a over C_L's support, walked from the largest m down with the exact step
  // P_{m−1}(k) = P_m(k) · (m − k) / (m (1 − q)): one window of C_G values, no rebuilding per a. The window is that of
  // the largest m, widened below by a few standard deviations of the shift (the mean moves by q per step).
  const first = binomial(n - byLost.start, q);
  const widen = Math.min(first.start, Math.ceil(q * byLost.values.length + 10));
  const gStart = first.start - widen;
  const window = new Float64Array(widen + first.values.length);
  window.set(first.values, widen);
  if (widen > 0 && q > 0 && q < 1) {
    // Fill the widened low end by the ratio P(k − 1) = P(k) · k / ((m − k + 1) · odds).
    const m = n - byLost.start;
    const odds = q / (1 - q);
    for (let i = widen - 1; i >= 0; i--) {
      const k = gStart + i + 1;
      window[i] = (window[i + 1] * k) / ((m - k + 1) * odds);
    }
  }
  const pmf = new Float64Array(lowest + gStart + window.length + 1); // index = C_G − C_L + lowest
  for (let i = 0; i < byLost.values.length; i++) {
    const a = byLost.start + i;
    const w = byLost.values[i];
    const at = gStart - a + lowest;
    if (i > 0 && q > 0 && q < 1) {
      const m = n - a + 1; // step the window from Bin(m, q) to Bin(m − 1, q), adding it to the pmf in the same pass
      const step = 1 / (m * (1 - q));
      // One division per step, not per value; k ≥ m has probability 0 under Bin(m − 1, q).
      const below = Math.max(0, Math.min(window.length, m - gStart));
      for (let j = 0; j < below; j++) {
        const v = window[j] * (m - gStart - j) * step;
        window[j] = v;
        pmf[at + j] += w * v;
      }
      window.fill(0, below);
    } else for (let j = 0; j < window.length; j++) pmf[at + j] += w * window[j];
  }
  const quantile = (p: number) => {
    let sum = 0;
    for (let i = 0; i < pmf.length; i++) {
      sum += pmf[i];
      // A relative slack of 1e-12 keeps float rounding of the sum from moving a bound across an exact boundary.
      if (sum >= p - 1e-12) return (i - lowest) / n;
    }
    return (pmf.length - 1 - lowest) / n;
  };
  return [quantile((1 - level) / 2), quantile((1 + level) / 2)];
}

/**
 * Binomial(m, p) probabilities where they are not negligible (< 1e-16 of the mode): built outward from the mode by
 * the ratio P(k+1)/P(k) = (m − k)/(k + 1) · p/(1 − p), then normalised, so no factorials and no underflow.
 */
function binomial(m: number, p: number): { start: number; values: Float64Array } {
  if (p <= 0 || m === 0) return { start: 0, values: Float64Array.of(1) };
  if (p >= 1) return { start: m, values: Float64Array.of(1) };
  const mode = Math.min(m, Math.floor((m + 1) * p));
  const odds = p / (1 - p);
  const up: number[] = [];
  for (let k = mode, v = 1; k < m; k++) {
    v *= ((m - k) / (k + 1)) * odds;
    if (v < 1e-16) break;
    up.push(v);
  }
  const down: number[] = [];
  for (let k = mode, v = 1; k > 0; k--) {
    v *= k / ((m - k + 1) * odds);
    if (v < 1e-16) break;
    down.push(v);
  }
  const values = Float64Array.from([...down.reverse(), 1, ...up]);
  const total = values.reduce((s, v) => s + v, 0);
  for (let i = 0; i < values.length; i++) values[i] /= total;
  return { start: mode - down.length, values };
}
