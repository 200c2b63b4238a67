/**
 * deltaIntervals (the CDF walk) against the previous implementation, the exact pmf sum kept verbatim in
 * test/study/deltaIntervalsReference.ts: the same two numbers, bit for bit (Object.is), for every key (n, lost,
 * gained, level) tried: all keys of tiny n, all of n = 100, a grid and random keys of n = 1000, and at n = 10,000 the
 * 1,954 distinct keys of the standard sweep of mlp100x3 on mnist:test
 * (test/fixtures/deltaIntervals/standard-sweep-lost-gained.json, from make_standard_sweep_lost_gained.mjs beside it)
 * plus random keys up to 2,000 lost and 500 gained. Where they differ, when (nearly) every image that is not lost is
 * gained (q = G/(n − L) = 1, or 1 − 1/(n − L) at n = 1000), the previous sum was wrong: there the new intervals equal
 * SciPy's (test/fixtures/scipy/make_delta_interval_near_one_references.py) and a case worked out by hand.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { deltaIntervals } from "../../src/study/deltaIntervals.js";
import { deltaIntervals as previousDeltaIntervals } from "./deltaIntervalsReference.js";

type Key = [lost: number, gained: number];

/** An ablation result over n images of class 0 with one condition per key: its lost images, then its gained ones. */
function resultFor(n: number, keys: Key[]) {
  const gainable = Math.max(0, ...keys.map(([, g]) => g));
  const labels = new Int32Array(n);
  // The first n − gainable images are right intact (losable), the rest wrong (gainable).
  const predictions = Int32Array.from({ length: n }, (_, i) => (i < n - gainable ? 0 : 1));
  const changes = keys.map(([lost, gained]) => {
    if (lost > n - gainable) throw new Error(`key (${lost}, ${gained}) does not fit n = ${n} with ${gainable} gainable`);
    const samples = Int32Array.from([...Array.from({ length: lost }, (_, i) => i), ...Array.from({ length: gained }, (_, i) => n - gainable + i)]);
    return { samples, predictions: Int32Array.from(samples, (_, j) => (j < lost ? 1 : 0)) };
  });
  return { result: { predictions, changes }, labels };
}

/**
 * Keys whose intervals differ between the two implementations (a bound not Object.is-equal), with both intervals.
 * One call per gained count, so that every key's lost images fit among the images right intact.
 */
function differences(n: number, keys: Key[], level: number) {
  const byGained = new Map<number, Key[]>();
  for (const key of keys) byGained.set(key[1], [...(byGained.get(key[1]) ?? []), key]);
  return [...byGained.values()].flatMap((group) => {
    const { result, labels } = resultFor(n, group);
    const now = deltaIntervals(result, labels, { level }).intervals;
    const before = previousDeltaIntervals(result, labels, { level }).intervals;
    expect(now).toHaveLength(group.length);
    return group.flatMap((key, i) => (Object.is(now[i][0], before[i][0]) && Object.is(now[i][1], before[i][1]) ? [] : [{ n, level, key, now: now[i], before: before[i] }]));
  });
}

/** A seeded generator (mulberry32), so the random keys are the same on every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every (lost, gained) with lost + gained ≤ n except G = n − L with L > 0 (q = 1: see the last test). */
function allKeys(n: number): Key[] {
  const keys: Key[] = [];
  for (let lost = 0; lost <= n; lost++) for (let gained = 0; lost + gained < n || (lost === 0 && gained === n); gained++) keys.push([lost, gained]);
  return keys;
}

const levels = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999];

describe("deltaIntervals equals the previous exact pmf sum", () => {
  it("deltaIntervals(result, labels, {level}) equals the pmf sum for every key of n = 1…12 and n = 100", () => {
    const found = [];
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) for (const level of levels) found.push(...differences(n, allKeys(n), level));
    for (const level of [0.9, 0.95, 0.99]) found.push(...differences(100, allKeys(100), level));
    expect(found).toEqual([]);
  });

  it("deltaIntervals equals the pmf sum where a bound's probability is a value of the CDF (ties at the 1e-12 slack)", () => {
    // The distribution of D = C_G − C_L is summed here in full (no cut tails): each CDF value c in (1e-9, 0.5) gives
    // the level 1 − 2c, whose lower bound's probability is c itself (and, for L = G, the upper bound's 1 − c): the
    // comparison is then decided by the slack. At n = 100 the new code's first walk leaves out up to 2e-7 of the
    // outer mass, so these ties also take its second, full walk.
    const binomial = (m: number, p: number) => {
      const values = [(1 - p) ** m];
      for (let k = 0; k < m; k++) values.push((values[k] * (m - k) * p) / ((k + 1) * (1 - p)));
      return values;
    };
    const found = [];
    const keys: Array<[number, Key[]]> = [[2, allKeys(2)], [3, allKeys(3)], [4, allKeys(4)], [5, allKeys(5)], [6, allKeys(6)], [100, [[30, 20], [50, 10], [10, 40], [45, 45], [5, 3]]]];
    for (const [n, group] of keys) {
      for (const [lost, gained] of group) {
        if (lost === 0 || gained === 0) continue;
        const pmf = new Map<number, number>();
        binomial(n, lost / n).forEach((weight, cl) => binomial(n - cl, gained / (n - lost)).forEach((p, cg) => pmf.set(cg - cl, (pmf.get(cg - cl) ?? 0) + weight * p)));
        let cdf = 0;
        const levels = [...pmf.keys()].sort((a, b) => a - b).flatMap((d) => ((cdf += pmf.get(d)!) > 1e-9 && cdf < 0.5 ? [1 - 2 * cdf] : []));
        for (const level of levels) found.push(...differences(n, [[lost, gained]], level));
      }
    }
    expect(found).toEqual([]);
  });

  it("deltaIntervals equals the pmf sum on n = 1000: edges, a grid and 1,500 random keys", () => {
    const n = 1000;
    const edges: Key[] = [[0, 1], [1, 0], [1, 1], [0, 999], [999, 0], [1000, 0], [0, 1000], [1, 998], [998, 1], [500, 498], [2, 996], [0, 500], [500, 0], [300, 300], [10, 600]];
    const grid: Key[] = [];
    for (let lost = 0; lost <= 900; lost += 37) for (let gained = 0; lost + gained < n; gained += 23) grid.push([lost, gained]);
    const next = random(19);
    const randomKeys: Key[] = Array.from({ length: 1500 }, () => {
      const lost = Math.floor(next() ** 2 * 600);
      return [lost, Math.floor(next() ** 2 * 300)];
    });
    const found = [];
    for (const level of levels) found.push(...differences(n, [...edges, ...grid], level));
    for (const level of [0.9, 0.95, 0.99]) found.push(...differences(n, randomKeys, level));
    expect(found).toEqual([]);
  });

  it("deltaIntervals equals the pmf sum at n = 10,000: the standard sweep's keys and random keys up to 2,000 lost, 500 gained", () => {
    const n = 10_000;
    const sweep = JSON.parse(readFileSync(new URL("../fixtures/deltaIntervals/standard-sweep-lost-gained.json", import.meta.url), "utf8")) as Key[];
    const distinct = [...new Map(sweep.map((key) => [key.join(","), key])).values()];
    expect([sweep.length, distinct.length]).toEqual([5250, 1954]);
    const next = random(2004);
    const randomKeys: Key[] = Array.from({ length: 600 }, () => [Math.floor(next() * 2001), Math.floor(next() * 501)]);
    const edges: Key[] = [[0, 1], [1, 0], [1, 1], [2000, 0], [0, 500], [2000, 500], [9999, 0], [10_000, 0], [5000, 0], [9000, 1], [1, 500]];
    const found = [...differences(n, distinct, 0.95), ...differences(n, [...randomKeys, ...edges], 0.95)];
    for (const level of [0.5, 0.9, 0.99, 0.999]) found.push(...differences(n, [...distinct.slice(0, 300), ...randomKeys.slice(0, 100), ...edges], level));
    expect(found).toEqual([]);
  });

  it("deltaIntervals where (nearly) every image not lost is gained equals SciPy, where the pmf sum lost mass", () => {
    // By hand, n = 4, L = G = 2: C_L ~ Bin(4, 1/2), D = 4 − 2·C_L ∈ {4, 2, 0, −2, −4} with probabilities 1, 4, 6, 4, 1
    // (/16): CDF(−4) = 1/16 ≥ 0.025 and CDF(2) = 15/16 < 0.975, so [−4, 4]/4. The pmf sum gave [0, 1]: with
    // q = G/(n − L) = 1 it never stepped C_G from n − min(C_L); near q = 1 its window lost its low end as it stepped.
    const reference = JSON.parse(readFileSync(new URL("../fixtures/scipy/delta_intervals_near_one.reference.json", import.meta.url), "utf8")) as {
      cases: Array<{ n: number; lost: number; gained: number; level: number; interval: [number, number] }>;
    };
    expect(reference.cases[0]).toMatchObject({ n: 4, lost: 2, gained: 2, interval: [-1, 1] });
    for (const { n, lost, gained, level, interval } of reference.cases) {
      const { result, labels } = resultFor(n, [[lost, gained]]);
      const now = deltaIntervals(result, labels, { level }).intervals[0];
      expect(now, `n=${n} L=${lost} G=${gained} level=${level}`).toEqual(interval);
      expect(previousDeltaIntervals(result, labels, { level }).intervals[0], `n=${n} L=${lost} G=${gained} level=${level}`).not.toEqual(interval);
    }
  });
});
