/**
 * denseSweep against a float64 forward pass written out in the test: every condition's predictions, per-class
 * counts and loss, at every layer, with and without the loss (which switches margin pruning on).
 */
import { describe, expect, it } from "vitest";
import { closeModel, openModel } from "../../src/engine/model.js";
import { maskedSweep } from "../../src/engine/sweep/maskedSweep.js";
import type { SweepOutcome } from "../../src/engine/sweep/types.js";
import { denseSweep } from "../../src/engine/sweep/denseSweep.js";
import { gapGains } from "../../src/engine/sweep/layerBounds.js";
import { denseChain } from "../../src/onnx/chain.js";
import { denseForward, denseReference, random, randomCnn, randomMlp } from "../helpers.js";

const reference = denseReference;

/** The condition's predictions (intact ones with its changes applied) and loss equal the float64 reference. */
function expectOutcome(outcome: SweepOutcome, expected: ReturnType<typeof reference>, intactPredictions: Int32Array, loss: boolean, label: string) {
  const predictions = Int32Array.from(intactPredictions);
  outcome.changed.forEach((s, j) => (predictions[s] = outcome.changedPredictions[j]));
  expect(Array.from(predictions), label).toEqual(Array.from(expected.predictions));
  if (loss) expect(outcome.lossSum! / expected.lossSum).toBeCloseTo(1, 6);
  else expect(outcome.lossSum).toBeNull();
}

describe("denseSweep", () => {
  it("denseChain(mlp) recognises the layers under their site names; denseChain(cnn) is null", async () => {
    const model = await openModel(randomMlp([12, 7, 5, 3], 2), { name: "mlp" });
    try {
      const chain = denseChain(model.proto)!;
      expect(chain.layers.map((l) => [l.name, l.in, l.out, l.activation])).toEqual([["fc1", 12, 7, "relu"], ["fc2", 7, 5, "relu"], ["fc3", 5, 3, null]]);
      expect(chain.layers.map((l) => l.name)).toEqual(model.sites.map((s) => s.name));
    } finally {
      await closeModel(model);
    }
    const cnn = await openModel(randomCnn(), { name: "cnn" });
    try {
      expect(denseChain(cnn.proto)).toBeNull();
    } finally {
      await closeModel(cnn);
    }
  });

  for (const [sizes, bias] of [[[24, 16, 12, 8, 4], true], [[24, 10, 6], false]] as const) {
    it(`denseSweep(mlp ${sizes.join("-")}${bias ? "" : " without bias"}) equals a float64 forward pass for singles, pairs and triples at every layer`, async () => {
      const model = await openModel(randomMlp([...sizes], 11, [1, 1, sizes[0]], bias), { name: "mlp" });
      try {
        const chain = denseChain(model.proto)!;
        const rand = random(5);
        const n = 500;
        const inputs = Float32Array.from({ length: n * sizes[0] }, () => rand() * 2 - 1);
        const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * sizes[sizes.length - 1]));
        for (let layer = 0; layer < chain.layers.length; layer++) {
          const width = chain.layers[layer].out;
          const conditions = [[0], [width - 1], [0, 1], [1, width - 1], [0, 1, 2].filter((u) => u < width)];
          for (const loss of [true, false]) {
            const sweep = await denseSweep({ model, chain, siteLayer: layer, inputs, labels, conditions, loss });
            const intact = reference(chain, inputs, labels, -1, []);
            expect(Array.from(sweep.intact.predictions)).toEqual(Array.from(intact.predictions));
            conditions.forEach((units, i) => {
              const expected = reference(chain, inputs, labels, layer, units);
              const outcome = sweep.conditions[i];
              expectOutcome(outcome, expected, intact.predictions, loss, `layer ${layer} units ${units} loss ${loss}`);
              expect(Array.from(outcome.changed)).toEqual([...outcome.changed].sort((a, b) => a - b));
              const correct = new Array<number>(sizes[sizes.length - 1]).fill(0);
              expected.predictions.forEach((p, s) => p === labels[s] && correct[p]++);
              expect(outcome.correctPerClass).toEqual(correct);
            });
          }
        }
      } finally {
        await closeModel(model);
      }
    });
  }

  it("gapGains bounds how far zeroing units lowers every gap z_t − z_c, for singles, pairs and triples (float64)", async () => {
    const sizes = [24, 16, 12, 8, 4];
    const model = await openModel(randomMlp(sizes, 11, [1, 1, 24]), { name: "mlp" });
    try {
      const chain = denseChain(model.proto)!;
      const rand = random(5);
      const k = 4;
      const forward = (x: number[], layer: number, units: number[]) => denseForward(chain, x, layer, units);
      let checked = 0;
      let tightest = Infinity;
      for (let layer = 0; layer < chain.layers.length - 1; layer++) {
        const gain = gapGains(chain, layer);
        const units = chain.layers[layer].out;
        for (let s = 0; s < 200; s++) {
          const x = Array.from({ length: sizes[0] }, () => rand() * 2 - 1);
          const intact = forward(x, -1, []);
          const z = intact[intact.length - 1];
          const h = intact[layer];
          for (const set of [[0], [1], [units - 1], [0, 1], [1, units - 1], [0, 1, 2]]) {
            const zeroed = forward(x, layer, set).at(-1)!;
            for (let t = 0; t < k; t++) {
              for (let c = 0; c < k; c++) {
                if (c === t) continue;
                const fall = z[t] - z[c] - (zeroed[t] - zeroed[c]);
                const bound = set.reduce((sum, u) => sum + h[u] * gain[(t * k + c) * units + u], 0);
                expect(fall).toBeLessThanOrEqual(bound + 1e-12);
                if (fall > 1e-9) tightest = Math.min(tightest, bound / fall);
                checked++;
              }
            }
          }
        }
      }
      expect(checked).toBe(3 * 200 * 6 * 12);
      // The bound is exact where the site feeds the output layer.
      expect(tightest).toBeCloseTo(1, 9);
    } finally {
      await closeModel(model);
    }
  });

  it("denseSweep of every pair and of triples at each hidden layer (candidate lists, single gaps; single losses reused) equals a float64 forward pass", async () => {
    const sizes = [24, 16, 12, 8, 4];
    const model = await openModel(randomMlp(sizes, 3, [1, 1, 24]), { name: "mlp" });
    try {
      const chain = denseChain(model.proto)!;
      const rand = random(9);
      const n = 400;
      const inputs = Float32Array.from({ length: n * sizes[0] }, () => rand() * 2 - 1);
      const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 4));
      const intact = reference(chain, inputs, labels, -1, []);
      for (let layer = 0; layer < chain.layers.length - 1; layer++) {
        const width = chain.layers[layer].out;
        const conditions: number[][] = [];
        for (let i = 0; i < width; i++) for (let j = i + 1; j < width; j++) conditions.push(j % 3 === 0 ? [j, i] : [i, j]);
        for (let i = 0; i + 2 < width; i += 3) conditions.push([i, i + 1, i + 2]);
        for (const loss of [false, true]) {
          const sweep = await denseSweep({ model, chain, siteLayer: layer, inputs, labels, conditions, loss });
          let changed = 0;
          conditions.forEach((units, i) => {
            const outcome = sweep.conditions[i];
            expectOutcome(outcome, reference(chain, inputs, labels, layer, units), intact.predictions, loss, `layer ${layer} units ${units} loss ${loss}`);
            changed += outcome.changed.length;
          });
          // Something flips, and rows were skipped (pruned, or reused from singles with loss): the test exercises both
          // sides of every bound.
          expect(changed).toBeGreaterThan(0);
          const activeRows = conditions.reduce((sum, units) => sum + units.length * n, 0);
          expect(sweep.stats.rowsEvaluated).toBeLessThan(activeRows / (loss ? 1 : 2));
        }
      }
    } finally {
      await closeModel(model);
    }
  });

  it("denseSweep(a condition with more rows than one tail run, one with more units than a run's slots, a unit named twice) equals a float64 forward pass", async () => {
    const sizes = [24, 16, 12, 8, 4];
    const model = await openModel(randomMlp(sizes, 7, [1, 1, 24]), { name: "mlp" });
    try {
      const chain = denseChain(model.proto)!;
      const rand = random(13);
      const n = 30000;
      const inputs = Float32Array.from({ length: n * sizes[0] }, () => rand() * 2 - 1);
      const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 4));
      const intact = reference(chain, inputs, labels, -1, []);
      // Unit 0's active samples outnumber a tail run's 12,288 rows (denseTail.ts, CHUNK_ROWS): with loss each is a
      // row, so its rows span two runs; ten units exceed a run's eight slots (CHUNK_UNITS).
      const first = chain.layers[0];
      let active = 0;
      for (let s = 0; s < n; s++) {
        let sum = first.bias ? first.bias[0] : 0;
        for (let i = 0; i < first.in; i++) sum += first.weight[i] * inputs[s * first.in + i];
        if (sum > 0) active++;
      }
      expect(active).toBeGreaterThan(12288);
      const conditions = [[0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 3], [1, 2], [15]];
      const expected = conditions.map((units) => reference(chain, inputs, labels, 0, units));
      for (const loss of [true, false]) {
        const sweep = await denseSweep({ model, chain, siteLayer: 0, inputs, labels, conditions, loss });
        conditions.forEach((units, i) => expectOutcome(sweep.conditions[i], expected[i], intact.predictions, loss, `units ${units} loss ${loss}`));
        if (loss) expect(sweep.stats.rowsEvaluated).toBeGreaterThan(active);
      }
    } finally {
      await closeModel(model);
    }
  });

  it("denseSweep without loss evaluates fewer rows than with it, and agrees with maskedSweep", async () => {
    const model = await openModel(randomMlp([16, 20, 6], 4, [1, 4, 4]), { name: "mlp" });
    try {
      const chain = denseChain(model.proto)!;
      const rand = random(8);
      const n = 800;
      const images = Float32Array.from({ length: n * 16 }, () => rand());
      const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 6));
      const inputs = images.map((v) => (v - 0.5) / 0.5);
      const conditions = Array.from({ length: 20 }, (_, u) => [u]);
      const pruned = await denseSweep({ model, chain, siteLayer: 0, inputs, labels, conditions, loss: false });
      const full = await denseSweep({ model, chain, siteLayer: 0, inputs, labels, conditions, loss: true });
      expect(pruned.stats.rowsEvaluated).toBeLessThan(full.stats.rowsEvaluated);
      const data = { spec: "random", n, shape: [1, 4, 4] as [number, number, number], images, labels, numClasses: 6, classNames: ["0", "1", "2", "3", "4", "5"], source: "test" };
      const masked = await maskedSweep({ model, site: model.sites[0], data, conditions: conditions.map((units) => ({ units, mode: "zero" as const })) });
      conditions.forEach((_, i) => {
        expect(Array.from(pruned.conditions[i].changed)).toEqual(Array.from(masked.conditions[i].changed));
        expect(Array.from(pruned.conditions[i].changedPredictions)).toEqual(Array.from(masked.conditions[i].changedPredictions));
        expect(full.conditions[i].lossSum! / masked.conditions[i].lossSum!).toBeCloseTo(1, 6);
      });
    } finally {
      await closeModel(model);
    }
  });
});
