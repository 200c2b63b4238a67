/**
 * deltaIntervals: the exact bootstrap over images. References from SciPy's binomial pmf
 * (test/fixtures/scipy/make_delta_interval_references.py, output committed beside it); for a change of m lost images
 * alone they equal −binom.ppf(0.975 | 0.025, n, m/n)/n.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LesionError } from "../../src/errors.js";
import { deltaIntervals } from "../../src/study/deltaIntervals.js";

const reference = JSON.parse(readFileSync(new URL("../fixtures/scipy/delta_intervals.reference.json", import.meta.url), "utf8")) as {
  n: number;
  level: number;
  cases: Array<{ lost: number; gained: number; interval: [number, number] }>;
};
const n = reference.n;

describe("deltaIntervals", () => {
  it("deltaIntervals(result, labels) equals SciPy's exact bootstrap percentile interval for lost and gained images", () => {
    // Every image is class 0. The first 1,000 are right intact (losable), the last 1,000 wrong (gainable).
    const labels = new Int32Array(n);
    const predictions = Int32Array.from({ length: n }, (_, i) => (i < 1000 ? 0 : 1));
    const changes = reference.cases.map(({ lost, gained }) => {
      // Lost: right → wrong; gained: wrong → right; plus one wrong image that changes to another wrong class (d = 0).
      const samples = [...Array.from({ length: lost }, (_, i) => 2 * i), ...Array.from({ length: gained }, (_, i) => 1000 + 3 * i), 1999];
      const after = [...new Array(lost).fill(1), ...new Array(gained).fill(0), 2];
      return { samples: Int32Array.from(samples), predictions: Int32Array.from(after) };
    });
    const result = deltaIntervals({ predictions, changes }, labels);
    expect(result.method).toBe("bootstrap-exact");
    expect(result.level).toBe(reference.level);
    result.intervals.forEach(([low, high], i) => {
      const { lost, gained, interval } = reference.cases[i];
      expect(low, `L=${lost} G=${gained}`).toBeCloseTo(interval[0], 12);
      expect(high, `L=${lost} G=${gained}`).toBeCloseTo(interval[1], 12);
      // The interval brackets the change itself.
      expect(low).toBeLessThanOrEqual((gained - lost) / n + 1e-12);
      expect(high).toBeGreaterThanOrEqual((gained - lost) / n - 1e-12);
    });
    // An AblateResult's conditions carry the counts: the same intervals from them (and SciPy's, from counts alone).
    const fromCounts = deltaIntervals({ predictions, changes, conditions: reference.cases.map(({ lost, gained }) => ({ lost, gained })) }, labels);
    expect(fromCounts.intervals).toEqual(result.intervals);
  });

  it("deltaIntervals on MNIST-sized data: a wider level gives a wider interval; 10,000 images and 300 lost", () => {
    const labels = new Int32Array(10_000);
    const predictions = new Int32Array(10_000);
    const changes = [{ samples: Int32Array.from({ length: 300 }, (_, i) => i), predictions: Int32Array.from({ length: 300 }, () => 1) }];
    const [[low95, high95]] = deltaIntervals({ predictions, changes }, labels).intervals;
    const [[low99, high99]] = deltaIntervals({ predictions, changes }, labels, { level: 0.99 }).intervals;
    // Normal approximation: −0.03 ± 1.96·√(0.03·0.97/10000) = −0.03 ± 0.0033.
    expect(low95).toBeCloseTo(-0.0333, 3);
    expect(high95).toBeCloseTo(-0.0267, 3);
    expect(low99).toBeLessThan(low95);
    expect(high99).toBeGreaterThan(high95);
  });

  it("deltaIntervals refuses a level outside (0, 1) and labels of another length", () => {
    const predictions = new Int32Array(n);
    const labels = new Int32Array(n);
    expect(() => deltaIntervals({ predictions, changes: [] }, labels, { level: 1 })).toThrow(LesionError);
    expect(() => deltaIntervals({ predictions, changes: [] }, labels, { level: 1 })).toThrow("`level` (the confidence level) must lie in (0, 1), got 1");
    try {
      deltaIntervals({ predictions, changes: [] }, new Int32Array(3));
      expect.unreachable();
    } catch (e) {
      expect((e as LesionError).code).toBe("shape-mismatch");
      expect((e as Error).message).toBe("the ablation result has 2000 predictions but the data has 3 labels");
    }
  });
});
