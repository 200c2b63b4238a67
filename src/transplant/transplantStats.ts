/**
 * Bootstrap confidence intervals for the gains of a transplant: percentile intervals (Efron & Tibshirani 1993) from
 * resampling the test images with replacement and, with several repeats, the repeats (seeds) too. Each resample
 * draws one set of images and one set of seeds shared by every condition, so differences between conditions are
 * paired. A gain is accuracy after minus accuracy before on the same images, overall, on the target class and on
 * the other classes.
 */
import { seeded } from "../random.js";

/** An estimate with its 95 % (default) bootstrap percentile interval; fractions 0..1. */
export interface Interval {
  /** The point estimate on all test images and repeats (a signed fraction for a gain: +0.05 is 5 pp). */
  estimate: number;
  /** The interval's lower end: the (1 − level)/2 quantile of the bootstrap estimates (linear interpolation, as numpy's percentile). */
  low: number;
  /** The interval's upper end: the (1 + level)/2 quantile of the bootstrap estimates. */
  high: number;
}

/** Gains in accuracy of one condition: overall, on the target class and on every other class pooled. */
export interface Gains {
  /** Accuracy after − before over all test images. */
  overall: Interval;
  /** Accuracy after − before on the target class's test images; null without a target class. */
  target: Interval | null;
  /** Accuracy after − before on the test images of every other class, pooled; null without a target class. */
  others: Interval | null;
}

export interface BootstrapInput {
  labels: Int32Array;
  /** The class the transplant is for, or null (then only the overall gain is computed). */
  target: number | null;
  /** 1 where the recipient before the transplant is right, per test image. */
  before: Uint8Array;
  /** Per condition, per repeat: 1 where the network after is right. */
  after: Uint8Array[][];
  /** Pairs (a, b) of condition indices whose difference in gain gets an interval (transplant − control). */
  differences: Array<[number, number]>;
  resamples: number;
  level: number;
  seed: number;
}

/** Gains per condition and the paired differences asked for, each with its interval. */
export function bootstrapGains(input: BootstrapInput): { gains: Gains[]; differences: Gains[] } {
  const n = input.labels.length;
  const target = input.target;
  const conditions = input.after.length;
  // Three accuracies (overall, target, others) of every condition and of before, for one weighting of the images.
  const measure = (weights: Float64Array | null, seeds: number[][]): number[][] => {
    const rows: number[][] = [];
    const accuracies = (correct: Uint8Array) => {
      let all = 0;
      let inTarget = 0;
      let total = 0;
      let totalTarget = 0;
      for (let i = 0; i < n; i++) {
        const w = weights ? weights[i] : 1;
        if (w === 0) continue;
        total += w;
        all += w * correct[i];
        if (input.labels[i] === target) {
          totalTarget += w;
          inTarget += w * correct[i];
        }
      }
      return [all / total, totalTarget > 0 ? inTarget / totalTarget : NaN, total - totalTarget > 0 ? (all - inTarget) / (total - totalTarget) : NaN];
    };
    const base = accuracies(input.before);
    for (let c = 0; c < conditions; c++) {
      const sum = [0, 0, 0];
      for (const r of seeds[c]) accuracies(input.after[c][r]).forEach((a, k) => (sum[k] += a));
      rows.push(sum.map((s, k) => s / seeds[c].length - base[k]));
    }
    return rows;
  };
  const all = input.after.map((repeats) => repeats.map((_, r) => r));
  const point = measure(null, all);
  const rand = seeded(input.seed * 2654435761 + 12345);
  const samples: number[][][] = [];
  const weights = new Float64Array(n);
  for (let b = 0; b < input.resamples; b++) {
    weights.fill(0);
    for (let i = 0; i < n; i++) weights[Math.floor(rand() * n)]++;
    const seeds = input.after.map((repeats) => repeats.map(() => Math.floor(rand() * repeats.length)));
    samples.push(measure(weights, seeds));
  }
  const interval = (estimate: number, values: number[]): Interval => {
    const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
    const q = (p: number) => {
      const at = p * (finite.length - 1);
      const lo = Math.floor(at);
      return finite[lo] + (finite[Math.min(lo + 1, finite.length - 1)] - finite[lo]) * (at - lo);
    };
    const tail = (1 - input.level) / 2;
    return { estimate, low: q(tail), high: q(1 - tail) };
  };
  const gainsOf = (pick: (rows: number[][]) => number[]): Gains => {
    const p = pick(point);
    const per = samples.map(pick);
    const at = (k: number) => interval(p[k], per.map((s) => s[k]));
    return { overall: at(0), target: target === null ? null : at(1), others: target === null ? null : at(2) };
  };
  return {
    gains: Array.from({ length: conditions }, (_, c) => gainsOf((rows) => rows[c])),
    differences: input.differences.map(([a, b]) => gainsOf((rows) => rows[a].map((v, k) => v - rows[b][k]))),
  };
}
