/**
 * The exact bootstrap percentile interval of one accuracy change (deltaIntervals.ts has the method): the bounds of
 * D = C_G − C_L, C_L ~ Bin(n, L/n), C_G | C_L ~ Bin(n − C_L, G/(n − L)), from a few evaluations of its CDF.
 *
 * CDF(d) = Σ_x P(X = x) · F_{n−x}(±d + x) over the outer variable X (C_L or C_G, whichever has the smaller variance),
 * F_m the CDF of the inner binomial Bin(m, r). Walking x by one moves (F, P) of the inner binomial to its neighbour
 * in O(1) by exact identities, so one evaluation costs O(√min(L, G)) steps after a start window of O(√max(L, G)),
 * instead of the O(√L·√G) pmf the previous implementation summed (test/study/deltaIntervalsReference.ts: the same
 * bounds, tested key by key). A walk starts in a window of the inner binomial around its mean, so that its pmf is not
 * 0 where the walk starts (a 0 would never recover), and stops in a direction where that pmf falls below 1e-30; the
 * outer and inner binomials are cut below 1e-16 of their modes as before. A first walk leaves out the outer values
 * of the last 1e-7 of mass at either end, and decides only where the CDF is farther than that from the bound's
 * probability; otherwise a second walk takes them all (none of the standard sweep's 3,905 walks needed one).
 */
/**
 * Buffers and constants shared by every key of one call: the reciprocals 1/j (j ≤ n + 2) so the walks multiply
 * instead of dividing, the outer pmf and its running sum, the inner window (pmf and CDF), and the walk's state.
 * A class, not an object literal: V8 builds a literal differently on its first and later runs, with field types that
 * differ, and the compiled walk reading them was thrown away at each `deltaIntervals` call after the first. Doubles
 * start as doubles (NaN): a field that changed from small integer to double would do the same.
 */
export class DeltaScratch {
  n: number = 0;
  recip: Float64Array;
  /** The outer pmf and its running sum, of the key being computed (cached by the binomial: keys share L or G). */
  outer: Float64Array = new Float64Array(0);
  outerCum: Float64Array = new Float64Array(0);
  outers: Map<number, { start: number; values: Float64Array; cumulative: Float64Array; first: number; last: number; skipped: number }> = new Map();
  /** The indices a first walk covers, and the outer mass outside them (≤ 2·SKIP): the bound on that walk's error. */
  first: number = 0;
  last: number = 0;
  skipped: number = NaN;
  /** The inner window from its mode outward (relative to P(mode) = 1): values and running sums below and above it. */
  down: Float64Array;
  downSum: Float64Array;
  up: Float64Array;
  upSum: Float64Array;
  mode: number = 0;
  belowMode: number = NaN;
  /** Standard normal quantiles of the two bounds, for the first guess. */
  zLow: number;
  zHigh: number;
  // The key being computed: C_L or C_G as the outer variable X over [x0, x0 + size), Y | X ~ Bin(n − X, r).
  x0: number = 0;
  size: number = 0;
  r: number = NaN;
  /** Whether D = C_G − C_L is Y − X (X = C_L) or X − Y (X = C_G). */
  lostOuter: boolean = true;
  // The inner window: Bin(n − xs, r) over [kStart, kEnd]; kEnd < kStart when none is built for this key.
  xs: number = 0;
  kStart: number = 0;
  kEnd: number = -1;
  /** The window's total relative to its mode: P = value / winTotal. */
  winTotal: number = NaN;
  // The last walk's sums: H(e) and H(e − 1), H(e) = P(Y − X ≤ e).
  h: number = NaN;
  hBelow: number = NaN;

  /** The scratch of one `deltaIntervals` call over n images at the given level. */
  constructor(n: number, level: number) {
    this.n = n;
    this.recip = reciprocals(n + 3);
    this.down = new Float64Array(n + 2);
    this.downSum = new Float64Array(n + 2);
    this.up = new Float64Array(n + 2);
    this.upSum = new Float64Array(n + 2);
    this.zLow = normalQuantile((1 - level) / 2);
    this.zHigh = normalQuantile((1 + level) / 2);
  }
}


/**
 * 1/j for j in 1 … length − 1. Its own function: a loop that V8 compiles while it runs (on-stack replacement) would
 * build the scratch object in compiled code in the first call and in the interpreter in the next, with field types
 * that differ, and code reading them would be thrown away at the second call.
 */
function reciprocals(length: number): Float64Array {
  const recip = new Float64Array(length);
  for (let j = 1; j < length; j++) recip[j] = 1 / j;
  return recip;
}

/** The outer mass a first walk may leave out at each end (its CDF is then exact to within twice this). */
const SKIP = 1e-7;

/**
 * The percentile interval of (C_G − C_L)/n, C_L ~ Bin(n, L/n), C_G | C_L ~ Bin(n − C_L, G/(n − L)): each bound is
 * the smallest d whose CDF reaches the bound's probability (less 1e-12, the slack of the pmf sum this replaced),
 * found by evaluating the CDF at a few d around a normal (Cornish–Fisher) guess. A CDF value is a walk over the
 * outer variable's support (`walk`), so a key costs O(outer support) per evaluation instead of the whole pmf. Where
 * D is a function of one binomial (L = 0, G = 0, or G = n − L) the bounds are read off that binomial. `s` holds the
 * call's buffers and caches (`DeltaScratch`); returns the bounds as fractions of n.
 */
export function exactDeltaInterval(n: number, lost: number, gained: number, level: number, s: DeltaScratch): [number, number] {
  if (lost === 0 && gained === 0) return [0, 0];
  const low = (1 - level) / 2 - 1e-12;
  const high = (1 + level) / 2 - 1e-12;
  if (lost === 0 || gained === 0 || gained === n - lost) return [degenerateQuantile(n, lost, gained, low, s) / n, degenerateQuantile(n, lost, gained, high, s) / n];
  // The outer variable is the one of smaller variance: the walk then sweeps the inner binomial slowly.
  s.lostOuter = lost * (n - lost) <= gained * (n - gained);
  const outerKey = s.lostOuter ? lost : -1 - gained;
  let outer = s.outers.get(outerKey);
  if (!outer) {
    const { start, size } = binomialInto(n, s.lostOuter ? lost / n : gained / n, s.up, s.down);
    const values = s.up.slice(0, size);
    const cumulative = new Float64Array(size);
    let sum = 0;
    for (let i = 0; i < size; i++) cumulative[i] = sum += values[i];
    let first = 0;
    while (first < size - 1 && cumulative[first] <= SKIP) first++;
    let last = size - 1;
    while (last > first && sum - cumulative[last - 1] <= SKIP) last--;
    const skipped = (first > 0 ? cumulative[first - 1] : 0) + (sum - cumulative[last]);
    s.outers.set(outerKey, (outer = { start, values, cumulative, first, last, skipped }));
  }
  s.first = outer.first;
  s.last = outer.last;
  s.skipped = outer.skipped;
  s.outer = outer.values;
  s.outerCum = outer.cumulative;
  s.x0 = outer.start;
  s.size = outer.values.length;
  s.r = s.lostOuter ? gained / (n - lost) : lost / (n - gained);
  s.kEnd = s.kStart - 1;
  // Moments of D = Σ over n draws of d ∈ {−1, 0, 1} (probabilities L/n, ·, G/n), for the first guess.
  const a = lost / n;
  const b = gained / n;
  const mean1 = b - a;
  const var1 = a + b - mean1 * mean1;
  const skew = (mean1 - 3 * mean1 * (a + b) + 2 * mean1 * mean1 * mean1) / (var1 * Math.sqrt(n * var1));
  const guess = (z: number) => Math.ceil(n * mean1 + (z + ((z * z - 1) * skew) / 6) * Math.sqrt(n * var1) - 0.5);
  return [
    low > 0 ? quantile(s, low, guess(s.zLow)) / n : (0 - oldLowest(n, lost)) / n,
    high > 0 ? quantile(s, high, guess(s.zHigh)) / n : (0 - oldLowest(n, lost)) / n,
  ];
}

/** The smallest d in [−n, n] with CDF(d) ≥ target (> 0), from `guess` by walks that each give CDF(d − 1), CDF(d). */
function quantile(s: DeltaScratch, target: number, guess: number): number {
  const n = s.n;
  // CDF(−n − 1) = 0 < target and CDF(n) = 1 ≥ target: the answer lies in (below, above].
  let below = -n - 1;
  let above = n;
  let d = Math.min(n, Math.max(-n, guess | 0));
  while (above - below > 1) {
    // First over the outer values that carry all but `skipped` of the mass: the CDF is then known to within it, and
    // where that leaves the comparison open, over all of them.
    let cdfBelow = 0;
    let cdf = 0;
    for (let full = false; ; full = true) {
      walk(s, s.lostOuter ? d : -d, full);
      // D = Y − X: CDF(d) = H(d); D = X − Y: CDF(d) = 1 − H(−d − 1), CDF(d − 1) = 1 − H(−d).
      cdfBelow = s.lostOuter ? s.hBelow : 1 - s.h;
      cdf = s.lostOuter ? s.h : 1 - s.hBelow;
      const margin = s.skipped + 1e-13;
      if (full || (Math.abs(cdfBelow - target) > margin && Math.abs(cdf - target) > margin)) break;
    }
    if (cdfBelow >= target) {
      above = d - 1;
      d = above - 1; // down from above: the next walk decides above − 2 and above − 1
    } else if (cdf >= target) return d;
    else {
      below = d;
      d = below + 2; // up from below: the next walk decides below + 1 and below + 2
    }
  }
  return above;
}

/**
 * H(e) = P(Y − X ≤ e) = Σ_x P(X = x) · F_{n−x}(e + x) and H(e − 1), into s.h and s.hBelow (F_m, P_m: the CDF and pmf
 * of Bin(m, r)). Walking x up, (F_m(k), P_m(k)) steps to (F_{m−1}(k+1), P_{m−1}(k+1)) in O(1) by the exact identities
 * P_{m−1}(k) = P_m(k)·(m−k)/(m(1−r)), F_{m−1}(k) = F_m(k) + r·P_{m−1}(k) and the ratio to k + 1; walking down, by
 * their inverses. The walk starts where the inner window (Bin(n − xs, r), built by `startWindow`) gives F and P, and
 * goes outward both ways; P along the walk is log-concave in x, so once it falls below 1e-30 and keeps falling the
 * remaining F are constant to that order and are added at once with the remaining outer weight.
 */
function walk(s: DeltaScratch, e: number, full: boolean): void {
  if (!(e + s.xs >= s.kStart && e + s.xs <= s.kEnd)) startWindow(s, e);
  const { n, r, x0, size, xs, outer, outerCum, recip } = s;
  const odds = r / (1 - r);
  const inverseOdds = (1 - r) / r;
  const complement = 1 - r;
  const scale = 1 / complement;
  const k0 = e + xs;
  let p0 = 0;
  let f0 = k0 > s.kEnd ? 1 : 0;
  if (k0 >= s.kStart && k0 <= s.kEnd) {
    // P(mode) = 1 before the division; below it, F = (the sum below the mode) − (what lies between k and the mode).
    const i = k0 - s.mode;
    p0 = (i === 0 ? 1 : i < 0 ? s.down[-1 - i] : s.up[i - 1]) / s.winTotal;
    f0 = (i === 0 ? s.belowMode + 1 : i < 0 ? s.belowMode - (i < -1 ? s.downSum[-2 - i] : 0) : s.belowMode + 1 + s.upSum[i - 1]) / s.winTotal;
  }
  const i0 = xs - x0;
  // H(e) = Σ w·F, and H(e − 1) = Σ w·(F − P) = H(e) − Σ w·P.
  let h = outer[i0] * f0;
  let hP = outer[i0] * p0;
  // Up: x = xs + 1 … x1.
  let p = p0;
  let f = f0;
  let m = n - xs;
  let k = k0;
  let i = i0 + 1;
  let frozen = p === 0;
  const end = full ? size : s.last + 1;
  for (; i < end && !frozen; i++) {
    const t = p * (m - k) * recip[m] * scale; // P_{m−1}(k)
    const next = t * (m - 1 - k) * recip[k + 1] * odds; // P_{m−1}(k+1)
    f += r * t + next;
    m--;
    k++;
    const w = outer[i];
    h += w * f;
    hP += w * next;
    frozen = next < 1e-30 && next <= p;
    p = next;
  }
  if (i < size) {
    const rest = outerCum[size - 1] - outerCum[i - 1];
    h += rest * f;
    hP += rest * p;
  }
  // Down: x = xs − 1 … x0.
  p = p0;
  f = f0;
  m = n - xs;
  k = k0;
  i = i0 - 1;
  frozen = p === 0;
  const start = full ? 0 : s.first;
  for (; i >= start && !frozen; i--) {
    const u = p * k * inverseOdds * recip[m - k + 1]; // P_m(k−1)
    const next = u * (m + 1) * complement * recip[m - k + 2]; // P_{m+1}(k−1)
    f -= p + r * u;
    m++;
    k--;
    const w = outer[i];
    h += w * f;
    hP += w * next;
    frozen = next < 1e-30 && next <= p;
    p = next;
  }
  if (i >= 0) {
    const rest = outerCum[i];
    h += rest * f;
    hP += rest * p;
  }
  s.h = h;
  s.hBelow = h - hP;
}

/**
 * Builds the inner window for a walk at e: Bin(n − xs, r) with xs the outer value where k = e + xs meets the inner
 * mean (clamped to the outer support), so that F and P at the start are well inside the window; where the clamp
 * puts k outside it, every F along the walk's one direction is 0 or 1 to within the window's 1e-16 cut.
 */
function startWindow(s: DeltaScratch, e: number): void {
  const x1 = s.x0 + s.size - 1;
  let xs = Math.floor((s.n * s.r - e) / (1 + s.r));
  if (xs < s.x0) xs = s.x0;
  else if (xs > x1) xs = x1;
  else if (e + xs < 0 && xs < x1) xs++; // k = −1 below the mean: start at k = 0, where P is not 0
  s.xs = xs;
  // Bin(m, r) relative to its mode, outward until below 1e-16 of it (as `binomialInto`), with running sums from the
  // mode outward: one pass, no normalisation (the walk divides by the total).
  const { recip, down, downSum, up, upSum } = s;
  const m = s.n - xs;
  const r = s.r;
  const mode = Math.min(m, Math.floor((m + 1) * r));
  const odds = r / (1 - r);
  const inverseOdds = (1 - r) / r;
  let below = 0;
  let sum = 0;
  for (let k = mode, v = 1; k > 0; k--) {
    v *= k * recip[m - k + 1] * inverseOdds;
    if (v < 1e-16) break;
    down[below] = v;
    downSum[below++] = sum += v;
  }
  s.belowMode = sum;
  let above = 0;
  sum = 0;
  for (let k = mode, v = 1; k < m; k++) {
    v *= (m - k) * recip[k + 1] * odds;
    if (v < 1e-16) break;
    up[above] = v;
    upSum[above++] = sum += v;
  }
  s.winTotal = s.belowMode + 1 + sum;
  s.mode = mode;
  s.kStart = mode - below;
  s.kEnd = mode + above;
}

/**
 * The quantile where D is a function of one binomial: D = −C_L (G = 0), D = C_G (L = 0) or D = n − 2C_L (every image
 * not lost is gained, G = n − L: C_G = n − C_L). A target ≤ 0 gives the pmf sum's first value, −(C_L's largest).
 */
function degenerateQuantile(n: number, lost: number, gained: number, target: number, s: DeltaScratch): number {
  if (!(target > 0)) return 0 - oldLowest(n, lost);
  const { start, size } = binomialInto(n, lost === 0 ? gained / n : lost / n, s.up, s.down);
  let sum = 0;
  if (lost === 0) {
    for (let i = 0; i < size; i++) if ((sum += s.up[i]) >= target) return start + i;
    return start + size - 1;
  }
  for (let i = size - 1; i >= 0; i--) {
    if ((sum += s.up[i]) >= target) return gained === 0 ? 0 - (start + i) : n - 2 * (start + i);
  }
  return gained === 0 ? 0 - start : n - 2 * start;
}

/** The largest C_L the previous pmf sum kept (its first index, d = −that): where Bin(n, L/n) falls below 1e-16 of its mode. */
function oldLowest(n: number, lost: number): number {
  const p = lost / n;
  if (p <= 0) return 0;
  if (p >= 1) return n;
  const mode = Math.min(n, Math.floor((n + 1) * p));
  const odds = p / (1 - p);
  let k = mode;
  for (let v = 1; k < n; k++) {
    v *= ((n - k) / (k + 1)) * odds;
    if (v < 1e-16) break;
  }
  return k;
}

/**
 * Binomial(m, p) probabilities where they are not negligible (< 1e-16 of the mode), into `out` from index 0 (`down`:
 * scratch): built outward from the mode by the ratio P(k+1)/P(k) = (m − k)/(k + 1) · p/(1 − p), then normalised,
 * so no factorials and no underflow. The same arithmetic, in the same order, as the pmf sum this file used before.
 */
function binomialInto(m: number, p: number, out: Float64Array, down: Float64Array): { start: number; size: number } {
  if (p <= 0 || m === 0 || p >= 1) {
    out[0] = 1;
    return { start: p >= 1 ? m : 0, size: 1 };
  }
  const mode = Math.min(m, Math.floor((m + 1) * p));
  const odds = p / (1 - p);
  let below = 0;
  for (let k = mode, v = 1; k > 0; k--) {
    v *= k / ((m - k + 1) * odds);
    if (v < 1e-16) break;
    down[below++] = v;
  }
  for (let j = 0; j < below; j++) out[j] = down[below - 1 - j];
  out[below] = 1;
  let size = below + 1;
  for (let k = mode, v = 1; k < m; k++) {
    v *= ((m - k) / (k + 1)) * odds;
    if (v < 1e-16) break;
    out[size++] = v;
  }
  let total = 0;
  for (let j = 0; j < size; j++) total += out[j];
  for (let j = 0; j < size; j++) out[j] /= total;
  return { start: mode - below, size };
}

/** The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9): only the first guess. */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const t = q * q;
  return ((((((a[0] * t + a[1]) * t + a[2]) * t + a[3]) * t + a[4]) * t + a[5]) * q) / (((((b[0] * t + b[1]) * t + b[2]) * t + b[3]) * t + b[4]) * t + 1);
}
