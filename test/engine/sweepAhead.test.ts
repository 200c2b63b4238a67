/**
 * sweepAhead starts the closed-form pair losses of the layer that feeds the output in a worker thread before any
 * sweep runs; sweeps of another site and then of that layer give every condition's loss and predictions of a float64
 * forward pass written out here. The worker exists only in the compiled build: this test loads dist/ (built by
 * `npm test`), as the command line does.
 */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import type * as ModelModule from "../../src/engine/model.js";
import type * as SweepModule from "../../src/engine/sweep/sweep.js";
import type { DenseIntact, SweepOutcome } from "../../src/engine/sweep/types.js";
import { denseChain } from "../../src/onnx/chain.js";
import { denseReference as reference, random, randomMlp } from "../helpers.js";

const dist = async <T>(path: string) => (await import(new URL(`../../dist/${path}`, import.meta.url).href)) as T;
const { openModel, closeModel, resolveSite, memoized } = await dist<typeof ModelModule>("engine/model.js");
const { sweep, sweepAhead } = await dist<typeof SweepModule>("engine/sweep/sweep.js");

describe("sweepAhead", () => {
  it("starts fc2's pair losses of an MLP 24-16-14-4 in a worker; the sweeps of fc1 and then fc2 equal a float64 forward pass", async () => {
    const model = await openModel(randomMlp([24, 16, 14, 4], 3), { name: "mlp" });
    try {
      const rand = random(9);
      const n = 400;
      const images = Float32Array.from({ length: n * 24 }, () => rand());
      const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 4));
      const data: Dataset = { spec: "random", n, shape: [1, 1, 24], images, labels, numClasses: 4, classNames: ["a", "b", "c", "d"], source: "test" };
      const units: number[][] = [];
      for (let i = 0; i < 14; i++) units.push([i]);
      for (let i = 0; i < 14; i++) for (let j = i + 1; j < 14; j++) units.push([i, j]);
      const fc2 = resolveSite(model, "fc2");
      const conditions = units.map((u) => ({ units: u, mode: "zero" as const }));
      await sweepAhead({ model, site: fc2, data, conditions, loss: true });
      const intact = await memoized(model, data, "dense-intact", async (): Promise<{ dense: DenseIntact }> => {
        throw new Error("sweepAhead made no intact pass");
      });
      expect(intact.dense.lossSums.get(1)?.ahead).toBeTruthy();
      const first = await sweep({ model, site: resolveSite(model, "fc1"), data, conditions: [{ units: [0], mode: "zero" }, { units: [3, 5], mode: "zero" }], loss: true });
      const second = await sweep({ model, site: fc2, data, conditions, loss: true });
      const chain = denseChain(model.proto)!;
      // The model normalises (x − 0.5) / 0.5 in float32, as lesion feeds it.
      const inputs = Float64Array.from(images, (x) => Math.fround(x - 0.5) / 0.5);
      const check = (outcome: SweepOutcome, layer: number, u: number[], intactPredictions: Int32Array) => {
        const expected = reference(chain, inputs, labels, layer, u);
        const predictions = Int32Array.from(intactPredictions);
        outcome.changed.forEach((s, j) => (predictions[s] = outcome.changedPredictions[j]));
        expect(Array.from(predictions), `layer ${layer} units ${u}`).toEqual(Array.from(expected.predictions));
        expect(outcome.lossSum! / expected.lossSum, `layer ${layer} units ${u}`).toBeCloseTo(1, 6);
      };
      first.conditions.forEach((o, i) => check(o, 0, [[0], [3, 5]][i], first.intact.predictions));
      second.conditions.forEach((o, i) => check(o, 1, units[i], second.intact.predictions));
      expect(intact.dense.lossSums.get(1)?.ahead ?? null).toBeNull();
    } finally {
      await closeModel(model);
    }
  });
});
