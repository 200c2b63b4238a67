/**
 * Real-world graph layouts of issue #13 (test/fixtures/cases/, copied from ../shared/cases/): each opens, evaluates
 * and ablates with the right values from its case README (onnxruntime in Python on all 10,000 mnist:test images,
 * the site masked by a Mul inserted in the graph). Accuracies are compared exactly (as counts of 10,000), losses to
 * the README's printed digits.
 */
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { evaluate } from "../../src/study/evaluate.js";
import { info } from "../../src/study/info.js";

export const casePath = (name: string) => new URL(`../fixtures/cases/${name}`, import.meta.url).pathname;

let mnist: Dataset | null = null;
export async function mnistTest(): Promise<Dataset> {
  return (mnist ??= await loadDataset("mnist:test"));
}

export async function withModel<T>(path: string, body: (model: LesionModel) => Promise<T>): Promise<T> {
  const model = await openModel(path);
  try {
    return await body(model);
  } finally {
    await closeModel(model);
  }
}

/** Intact accuracy/loss and per-condition accuracy/loss as the README tables give them (accuracy to 4 digits). */
export interface Expected {
  accuracy: number;
  loss: number;
  conditions: Array<{ site: string; unit: number; accuracy: number; loss: number }>;
}

export async function expectCase(model: LesionModel, expected: Expected, lossDigits = 6): Promise<void> {
  const data = await mnistTest();
  const tolerance = 0.5 * 10 ** -lossDigits + 2e-6;
  const evaluation = await evaluate(model, data);
  expect(Math.round(evaluation.accuracy * 10000)).toBe(Math.round(expected.accuracy * 10000));
  expect(Math.abs(evaluation.loss - expected.loss)).toBeLessThanOrEqual(tolerance);
  const result = await ablate(model, data, { conditions: expected.conditions.map((c) => condition(resolveSite(model, c.site), [c.unit])) });
  expect(Math.round(result.baseline.accuracy * 10000)).toBe(Math.round(expected.accuracy * 10000));
  expect(Math.abs(result.baseline.loss! - expected.loss)).toBeLessThanOrEqual(tolerance);
  expected.conditions.forEach((c, i) => {
    const got = result.conditions[i];
    expect([got.site, got.units, Math.round(got.accuracy * 10000)], `${c.site}:${c.unit}`).toEqual([c.site, [c.unit], Math.round(c.accuracy * 10000)]);
    expect(Math.abs(got.loss! - c.loss), `${c.site}:${c.unit} loss`).toBeLessThanOrEqual(tolerance);
  });
}

describe("weight-node-after-site: weights computed from initializers are folded at open", () => {
  const dir = "weight-node-after-site";
  const cases: Record<string, Expected> = {
    weight_reshape_cnn: {
      accuracy: 0.0925,
      loss: 2.311818,
      conditions: [
        { site: "conv1", unit: 0, accuracy: 0.0658, loss: 2.356991 },
        { site: "conv1", unit: 3, accuracy: 0.0812, loss: 2.292089 },
      ],
    },
    weight_transpose_mlp: {
      accuracy: 0.1261,
      loss: 2.334933,
      conditions: [
        { site: "matmul2", unit: 14, accuracy: 0.1092, loss: 2.346272 },
        { site: "matmul2", unit: 13, accuracy: 0.1156, loss: 2.340881 },
      ],
    },
    // The README's gemm5 is the hidden ReLU behind four Cast nodes; folded, it is the second node, as in the twin.
    fp16_weights_cast_mlp: {
      accuracy: 0.126,
      loss: 2.334933,
      conditions: [
        { site: "gemm1", unit: 14, accuracy: 0.1093, loss: 2.346274 },
        { site: "gemm1", unit: 13, accuracy: 0.1156, loss: 2.340884 },
        { site: "gemm1", unit: 7, accuracy: 0.1166, loss: 2.328886 },
      ],
    },
  };
  for (const [name, expected] of Object.entries(cases)) {
    it(`openModel(${name}.onnx) evaluates and ablates to the README's values, and lists the folded twin's sites`, async () => {
      const twinSites = await withModel(casePath(`${dir}/${name}_folded.onnx`), async (twin) => twin.sites.map((s) => [s.name, s.units, s.shape]));
      await withModel(casePath(`${dir}/${name}.onnx`), async (model) => {
        expect(model.normalization.foldedNodes).toBeGreaterThan(0);
        expect(model.sites.map((s) => [s.name, s.units, s.shape])).toEqual(twinSites);
        await expectCase(model, expected);
      });
    }, 60_000);
  }

  it("info(weight_reshape_cnn) lists the final MatMul site and says what was folded", async () => {
    await withModel(casePath(`${dir}/weight_reshape_cnn.onnx`), async (model) => {
      const result = info(model);
      expect(result.sites.map((s) => [s.name, s.op, s.units])).toEqual([
        ["conv1", "Relu", 4],
        ["matmul3", "MatMul", 10],
      ]);
      expect(result.notes.join("\n")).toMatch(/1 constant-only node .* folded into initializers/);
    });
  });
});
