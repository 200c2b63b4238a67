/**
 * Selectivity's minimum activity (issue #18): a unit active on fewer than max(10, 0.1 % of the) samples has no
 * selectivity (null), is left out of selectivity rankings and correlations, and goes last in the selectivity order.
 * Expected values are derived by hand in the comments, or from SciPy where stated.
 */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { fractions } from "../../src/study/conditions.js";
import { correlations } from "../../src/study/correlations.js";
import { indicators, type IndicatorsResult, type SiteIndicators } from "../../src/study/indicators.js";
import { minActiveSamples, selectivity } from "../../src/study/unitScores.js";

describe("selectivity minimum activity", () => {
  it("minActiveSamples(n) is max(10, ⌈0.1 % of n⌉)", () => {
    expect(minActiveSamples(300)).toBe(10);
    expect(minActiveSamples(10_000)).toBe(10);
    expect(minActiveSamples(10_001)).toBe(11);
    expect(minActiveSamples(60_000)).toBe(60);
  });

  it("selectivity(means, units, [], {fractionActive, n}) is null for a unit that fires on 1 image, defined from 10 images", () => {
    // 10,000 samples, 10 classes of 1,000. Unit 0 fires once (value 5, class 3): class means 0 but 0.005 in class 3, so
    // (0.005 − 0)/(0.005 + 0) = 1 — the most selective unit there is, from one image. Unit 1 fires on 10 images of
    // class 3 (value 1): selectivity 1 too, and defined. Unit 2 fires on 9: null.
    const k = 10;
    const means = new Float64Array(k * 3);
    means[3 * 3 + 0] = 5 / 1000;
    means[3 * 3 + 1] = 10 / 1000;
    means[3 * 3 + 2] = 9 / 1000;
    expect(selectivity(means, 3)).toEqual([1, 1, 1]);
    const got = selectivity(means, 3, [], { fractionActive: [1 / 10_000, 10 / 10_000, 9 / 10_000], n: 10_000 });
    expect(got).toEqual([null, 1, null]);
  });

  it("fractions(site, {order: 'selectivity', ranking}) puts units with null selectivity last, in unit order", () => {
    const site = { name: "fc1", units: 5 } as Parameters<typeof fractions>[0];
    const [f40, f80] = fractions(site, { fractions: [0.4, 0.8], order: "selectivity", ranking: [null, 0.2, 0.9, null, 0.5] });
    expect(f40.units).toEqual([2, 4]);
    expect(f80.units).toEqual([0, 1, 2, 4]); // 2, 4, 1, then the first null unit, 0 (units are listed sorted)
  });

  it("correlations(result) leaves units with null selectivity out of selectivity's coefficients only", () => {
    const site = {
      site: "fc1", kind: "dense", units: 5,
      magnitude: [0.1, 0.2, 0.3, 0.4, 0.5], selectivity: [null, 0.5, 0.2, 0.9, 0.1], fractionActive: [0.0001, 0.5, 0.5, 0.5, 0.5],
      weightL1: null, weightL2: null, weightChange: null, mannWhitneyU: null, mannWhitneyP: null,
      impact: [0.5, 0.03, 0.01, 0.02, 0], impactMaxClass: [0.5, 0.1, 0.1, 0.1, 0.1],
    } as unknown as SiteIndicators;
    const [table] = correlations({ sites: [site] } as unknown as IndicatorsResult);
    const entry = table.entries.find((e) => e.a === "selectivity" && e.b === "impact")!;
    // scipy.stats.pearsonr([0.5,0.2,0.9,0.1],[0.03,0.01,0.02,0.0]) = 0.6825001477017446, p 0.3174998522982553;
    // spearmanr = 0.8, p 0.2 (unit 0, impact 0.5, left out; with it Pearson would be driven by that one unit).
    expect(entry.n).toBe(4);
    expect(entry.pearson.r).toBeCloseTo(0.6825001477017446, 12);
    expect(entry.pearson.p).toBeCloseTo(0.3174998522982553, 10);
    expect(entry.spearman.r).toBeCloseTo(0.8, 12);
    expect(table.entries.find((e) => e.a === "magnitude" && e.b === "impact")!.n).toBe(5);
  });

  it("indicators(model, data) gives null selectivity to a unit of a real network that fires on 1 image of 1,000", async () => {
    // fc1:0 = relu(x0 − 0.5) fires only on the one image whose pixel 0 is 1; fc1:1 = relu(x1) fires on every image.
    const spec = buildClassifier({
      layers: [
        { op: "linear", name: "fc1", weight: Float32Array.from([1, 0, 0, 1]), shape: [2, 2], bias: Float32Array.from([-0.5, 0]) },
        { op: "relu" },
        { op: "linear", name: "fc2", weight: Float32Array.from([1, -1, -1, 1]), shape: [2, 2], bias: null },
      ],
      inputShape: [2],
    });
    writeMetadata(spec, { preprocessing: { layout: "flat", mean: [0], std: [1], imageShape: [1, 1, 2] }, classNames: null });
    const n = 1000;
    const images = new Float32Array(2 * n);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
    for (let s = 0; s < n; s++) images[2 * s + 1] = 0.2 + 0.6 * labels[s];
    images[2 * 7] = 1;
    const data: Dataset = { spec: "one-image", n, shape: [1, 1, 2], images, labels, numClasses: 2, classNames: ["0", "1"], source: "test" } as Dataset;
    const model = await openModel(encodeModel(spec), { name: "one-image" });
    try {
      resolveSite(model, "fc1");
      const result = await indicators(model, data, { sites: ["fc1"] });
      const site = result.sites[0];
      expect(site.fractionActive[0]).toBeCloseTo(1 / n, 12);
      expect(site.selectivity[0]).toBeNull();
      // fc1:1: class means 0.2 and 0.8 → (0.8 − 0.2)/(0.8 + 0.2) = 0.6 (float32 pixels).
      expect(site.selectivity[1]).toBeCloseTo(0.6, 6);
    } finally {
      await closeModel(model);
    }
  });
});
