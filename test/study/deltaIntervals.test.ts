/**
 * deltaIntervals: the bootstrap over images. When m of n correct images are lost, the resampled change is exactly
 * −Binomial(n, m/n)/n (the m images are drawn Binomial(n, m/n) times in all), so its percentile interval is known:
 * the references are scipy.stats.binom.ppf(0.025 | 0.975, 2000, m/2000) / 2000 (values in the comments).
 */
import { describe, expect, it } from "vitest";
import { LesionError } from "../../src/errors.js";
import { deltaIntervals } from "../../src/study/deltaIntervals.js";

const n = 2000;
const labels = new Int32Array(n); // every image is class 0
const lose = (samples: number[]) => ({ samples: Int32Array.from(samples), predictions: Int32Array.from(samples, () => 1) });

describe("deltaIntervals", () => {
  it("deltaIntervals(result, labels) gives the binomial percentile interval of a change of m lost images", () => {
    const predictions = new Int32Array(n); // all correct
    const changes = [lose([]), lose([5]), lose(Array.from({ length: 20 }, (_, i) => 3 * i)), lose(Array.from({ length: 200 }, (_, i) => 7 * i))];
    const { intervals, replicates, seed, level } = deltaIntervals({ predictions, changes }, labels, { replicates: 4000 });
    expect([replicates, seed, level]).toEqual([4000, 0, 0.95]);
    // scipy: m=0 → [0, 0]; m=1 → [-0.0015, 0]; m=20 → [-0.0145, -0.006]; m=200 → [-0.1135, -0.087].
    const expected = [[0, 0], [-0.0015, 0], [-0.0145, -0.006], [-0.1135, -0.087]];
    intervals.forEach(([low, high], i) => {
      expect(Math.abs(low - expected[i][0]), `low ${i}`).toBeLessThanOrEqual(1.5 / n);
      expect(Math.abs(high - expected[i][1]), `high ${i}`).toBeLessThanOrEqual(1.5 / n);
    });
  });

  it("deltaIntervals counts gains: 10 images lost and 10 gained give an interval around 0, seeded", () => {
    const predictions = new Int32Array(n);
    for (let i = 1000; i < 1010; i++) predictions[i] = 1; // intact wrong on these
    const changes = [{ samples: Int32Array.from([...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => 1000 + i)]), predictions: Int32Array.from([...new Array(10).fill(1), ...new Array(10).fill(0)]) }];
    const a = deltaIntervals({ predictions, changes }, labels, { replicates: 4000, seed: 3 });
    const [[low, high]] = a.intervals;
    // Normal approximation: sd = √20 / n, interval ≈ ±1.96·√20/2000 = ±0.00438.
    expect(low).toBeLessThan(-0.003);
    expect(high).toBeGreaterThan(0.003);
    expect(Math.abs(low + high)).toBeLessThanOrEqual(1.5 / n);
    expect(deltaIntervals({ predictions, changes }, labels, { replicates: 4000, seed: 3 })).toEqual(a);
  });

  it("deltaIntervals refuses a level outside (0, 1) and labels of another length", () => {
    const predictions = new Int32Array(n);
    expect(() => deltaIntervals({ predictions, changes: [] }, labels, { level: 1 })).toThrow(LesionError);
    expect(() => deltaIntervals({ predictions, changes: [] }, labels, { level: 1 })).toThrow("the confidence level must lie in (0, 1), got 1");
    try {
      deltaIntervals({ predictions, changes: [] }, new Int32Array(3));
      expect.unreachable();
    } catch (e) {
      expect((e as LesionError).code).toBe("shape-mismatch");
      expect((e as Error).message).toBe("the ablation result has 2000 predictions but the data has 3 labels");
    }
  });
});
