/**
 * The statistics of characterisation, matching SciPy's definitions (checked against SciPy in test/study/stats.test.ts):
 * Pearson and Spearman correlations with two-sided p-values (t distribution, n − 2 degrees of freedom, as
 * scipy.stats.pearsonr / spearmanr), the Mann–Whitney U test (two-sided, normal approximation with tie and continuity
 * correction, as scipy.stats.mannwhitneyu(method="asymptotic")), and agreement between two groupings (adjusted Rand
 * index of Hubert and Arabie; normalised mutual information with the arithmetic mean of the entropies).
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import { fail } from "../errors.js";

/** Refuses two arrays paired by index that differ in length (a shorter second array had read as NaN, a longer one was cut). */
function checkPaired(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (b.length !== a.length) fail("shape-mismatch", `${what} needs two arrays of one length, got ${a.length} and ${b.length} values`, { expected: [a.length], actual: [b.length] });
}

/** A correlation coefficient with its two-sided p-value (`pearson`, `spearman`). */
export interface Correlation {
  /** The coefficient, or null when a variable is constant (no correlation is defined). */
  r: number | null;
  /** Two-sided p-value; null with r. */
  p: number | null;
  /** Number of (x, y) pairs: the length of `x`. */
  n: number;
}

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata's "average"), in the input's order. Throws nothing. */
export function rank(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    const average = (i + j) / 2 + 1;
    for (let m = i; m <= j; m++) ranks[order[m]] = average;
    i = j + 1;
  }
  return ranks;
}

/**
 * Pearson's r of `x` and `y` (paired by index; `y` as long as `x`), with the two-sided p-value of the t test on n − 2
 * degrees of freedom, as scipy.stats.pearsonr. r and p are null where r is undefined: fewer than 3 pairs (SciPy: p 1
 * for 2), or a constant variable. Sums in float64. A NaN value makes r and p NaN.
 * @throws LesionError `shape-mismatch` where `y`'s length is not `x`'s.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  checkPaired("pearson", x, y);
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) (mx += x[i]), (my += y[i]);
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (n < 3 || sxx === 0 || syy === 0) return { r: null, p: null, n };
  const r = Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  return { r, p: correlationP(r, n), n };
}

/**
 * Spearman's rank correlation: Pearson's r of the average ranks (`rank`), p from the same t test, as
 * scipy.stats.spearmanr; null as `pearson` (fewer than 3 pairs, or a constant variable).
 * @throws LesionError `shape-mismatch` where `y`'s length is not `x`'s.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  checkPaired("spearman", x, y);
  return pearson(rank(x), rank(y));
}

function correlationP(r: number, n: number): number {
  if (Math.abs(r) === 1) return 0;
  const df = n - 2;
  const t = r * Math.sqrt(df / ((1 - r) * (1 + r)));
  return Math.min(1, 2 * tCdf(-Math.abs(t), df));
}

/** A Mann–Whitney U test's statistic and two-sided p-value (`mannWhitney`). */
export interface MannWhitney {
  /** U of the first sample. */
  u: number;
  /** Two-sided p-value. */
  p: number;
}

/**
 * The Mann–Whitney U test of two independent samples, two-sided, by the normal approximation with tie and continuity
 * correction (scipy.stats.mannwhitneyu(a, b, method="asymptotic")): `u` is U of `a`, `p` in 0..1 (1 where every value
 * ties). Used on a unit's trained against its initial incoming weights (Meyes et al. 2019). Throws nothing.
 */
export function mannWhitney(a: ArrayLike<number>, b: ArrayLike<number>): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  const n = n1 + n2;
  const all = new Float64Array(n);
  all.set(Array.from(a));
  all.set(Array.from(b), n1);
  const ranks = rank(all);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i];
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = Math.max(u1, n1 * n2 - u1);
  const sorted = Float64Array.from(all).sort();
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && sorted[j + 1] === sorted[i]) j++;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (sigma === 0) return { u: u1, p: 1 };
  const z = (u - (n1 * n2) / 2 - 0.5) / sigma;
  // The upper tail as the lower tail of −z: 1 − cdf(z) would lose every digit of a tiny p.
  return { u: u1, p: Math.min(1, 2 * normalCdf(-z, 0, 1)) };
}

/** Counts of each (label in a, label in b) pair, with the distinct labels of each. */
function contingency(what: string, a: ArrayLike<number>, b: ArrayLike<number>): { table: number[][]; rows: number[]; cols: number[] } {
  checkPaired(what, a, b);
  const as = [...new Set(Array.from(a))];
  const bs = [...new Set(Array.from(b))];
  const table = as.map(() => new Array<number>(bs.length).fill(0));
  for (let i = 0; i < a.length; i++) table[as.indexOf(a[i])][bs.indexOf(b[i])]++;
  return { table, rows: table.map((row) => row.reduce((x, y) => x + y, 0)), cols: bs.map((_, j) => table.reduce((x, row) => x + row[j], 0)) };
}

const pairsOf = (m: number) => (m * (m - 1)) / 2;

/**
 * Adjusted Rand index (Hubert & Arabie 1985) of two groupings of the same items (`a[i]`, `b[i]` item i's cluster
 * labels, any numbers): 1 for identical partitions, about 0 for chance agreement, negative below it; 1 where both are
 * trivial (one cluster, or all singletons). As sklearn.metrics.adjusted_rand_score.
 * @throws LesionError `shape-mismatch` where `b`'s length is not `a`'s.
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { table, rows, cols } = contingency("adjustedRandIndex", a, b);
  const index = table.flat().reduce((s, v) => s + pairsOf(v), 0);
  const sumRows = rows.reduce((s, v) => s + pairsOf(v), 0);
  const sumCols = cols.reduce((s, v) => s + pairsOf(v), 0);
  const expected = (sumRows * sumCols) / pairsOf(a.length);
  const max = (sumRows + sumCols) / 2;
  // Both groupings trivial (one cluster, or all singletons, in both): identical by convention.
  return max === expected ? 1 : (index - expected) / (max - expected);
}

/**
 * Normalised mutual information of two groupings of the same items: I(a; b) over the arithmetic mean of their
 * entropies, 0..1 (as sklearn.metrics.normalized_mutual_info_score's default); 1 where both are one cluster, 0 where
 * they share no information.
 * @throws LesionError `shape-mismatch` where `b`'s length is not `a`'s.
 */
export function normalizedMutualInformation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { table, rows, cols } = contingency("normalizedMutualInformation", a, b);
  const n = a.length;
  let mi = 0;
  table.forEach((row, i) => row.forEach((v, j) => v > 0 && (mi += (v / n) * Math.log((v * n) / (rows[i] * cols[j])))));
  const entropy = (counts: number[]) => -counts.reduce((s, c) => s + (c > 0 ? (c / n) * Math.log(c / n) : 0), 0);
  // Both groupings a single cluster: identical by convention (as scikit-learn).
  if (rows.length === 1 && cols.length === 1) return 1;
  return mi <= 0 ? 0 : mi / ((entropy(rows) + entropy(cols)) / 2);
}

/**
 * Mean silhouette of a grouping under a distance matrix (`distance` [n, n] row-major, `labels` [n]): −1..1, 0 for a
 * point alone in its cluster, as scikit-learn; 0 for fewer than 2 clusters.
 * @throws LesionError `shape-mismatch` where `distance` does not hold n × n values for the n labels.
 */
export function silhouette(distance: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (distance.length !== labels.length * labels.length) fail("shape-mismatch", `silhouette needs an n × n distance matrix for n = ${labels.length} labels (${labels.length * labels.length} values), got ${distance.length}`, { expected: [labels.length, labels.length], actual: [distance.length] });
  const n = labels.length;
  const clusters = [...new Set(Array.from(labels))];
  if (clusters.length < 2) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const sums = new Map<number, [number, number]>(clusters.map((c) => [c, [0, 0]]));
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const entry = sums.get(labels[j])!;
      entry[0] += distance[i * n + j];
      entry[1]++;
    }
    const own = sums.get(labels[i])!;
    if (own[1] === 0) continue;
    const a = own[0] / own[1];
    let b = Infinity;
    for (const [c, [sum, count]] of sums) if (c !== labels[i] && count > 0) b = Math.min(b, sum / count);
    const s = Math.max(a, b) === 0 ? 0 : (b - a) / Math.max(a, b);
    total += s;
  }
  return total / n;
}

/**
 * 1 − Pearson correlation between rows (SciPy's "correlation" distance). Where it is undefined, a constant row is at
 * distance 1 from every row that varies and at 0 from another constant row: two units whose ablation changes nothing
 * (an impact profile of zeros) have the same profile, and had been put in two populations of their own. Returns the
 * [n, n] matrix row-major (0..2, symmetric, 0 on the diagonal). Throws nothing.
 */
export function correlationDistances(rows: ArrayLike<number>[]): Float64Array {
  const n = rows.length;
  const distances = new Float64Array(n * n);
  const flat = rows.map((row) => Array.prototype.every.call(row, (v: number) => v === row[0]));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const r = flat[i] && flat[j] ? 1 : pearson(rows[i], rows[j]).r;
      distances[i * n + j] = distances[j * n + i] = r === null ? 1 : 1 - r;
    }
  }
  return distances;
}
