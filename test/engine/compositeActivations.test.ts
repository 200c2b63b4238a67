/**
 * Activations torch.onnx.export writes as several nodes before opset 20 (test/fixtures/torch/make_activation_fixtures.py):
 * GELU as Div, Erf, Add, Mul, Mul after a BatchNorm; SiLU as Sigmoid, Mul; GELU's tanh form; Mish as Softplus, Tanh,
 * Mul. Each is one site, the activation's output (not the layer's output before it, which a trial's GELU model had
 * been given), so that mean ablations and recordings are of the activation; every number equals PyTorch float64
 * forward hooks on the activation modules.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { record } from "../../src/engine/record.js";
import { ablate } from "../../src/study/ablate.js";
import { singles } from "../../src/study/conditions.js";

interface Reference {
  inputs: number[];
  shape: [number, number, number, number];
  labels: number[];
  logits64: number[];
  sites: Record<string, { classMeans: number[]; units: number; ablations: Array<{ mode: "zero" | "mean"; unit: number; predictions: number[]; loss: number }> }>;
}

const fixture = (name: string) => new URL(`../fixtures/torch/${name}`, import.meta.url);
const reference = JSON.parse(readFileSync(fixture("activations.reference.json"), "utf8")) as Reference;
const [n, c, h, w] = reference.shape;
const data: Dataset = { spec: "activations-fixture", n, shape: [c, h, w], images: Float32Array.from(reference.inputs), labels: Int32Array.from(reference.labels), numClasses: 5, classNames: ["a", "b", "c", "d", "e"], source: "activations.reference.json" };

describe("activations written as several nodes (torch.onnx.export, opset 17)", () => {
  it("openModel(mlp_gelu.onnx): one site per activation, named after its Linear, with the activation's own op and output", async () => {
    const model = await openModel(readFileSync(fixture("mlp_gelu.onnx")), { name: "mlp_gelu" });
    try {
      expect(model.sites.map((s) => [s.name, s.op, s.units])).toEqual([
        ["fc1", "Gelu", 24],
        ["fc2", "Silu", 16],
        ["fc3", "Gelu", 12],
        ["fc4", "Mish", 10],
        ["out", "Gemm", 5],
      ]);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(every unit of each site, zero and mean) and record(class means) equal PyTorch float64 hooks on the activation modules", async () => {
    const model = await openModel(readFileSync(fixture("mlp_gelu.onnx")), { name: "mlp_gelu" });
    try {
      const recorded = await record(model, data, { sites: Object.keys(reference.sites) });
      for (const [name, site] of Object.entries(reference.sites)) {
        const got = recorded.sites.find((s) => s.site === name)!.classMeans.data;
        site.classMeans.forEach((want, i) => expect(Math.abs(got[i] - want), `${name} class mean ${i}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want))));
        const conditions = [...singles(resolveSite(model, name), "zero"), ...singles(resolveSite(model, name), "mean")];
        const result = await ablate(model, data, { conditions, loss: true });
        expect(result.unresolvedTies).toBe(0);
        expect(result.warnings).toEqual([]);
        site.ablations.forEach((a, i) => {
          expect(result.conditions[i].id).toBe(`${name}/${a.mode}/${a.unit}`);
          const predictions = Array.from(result.predictions);
          result.changes[i].samples.forEach((s, j) => (predictions[s] = result.changes[i].predictions[j]));
          expect(predictions, result.conditions[i].id).toEqual(a.predictions);
          expect(Math.abs(result.conditions[i].loss! - a.loss), result.conditions[i].id).toBeLessThanOrEqual(2e-6 * a.loss);
        });
      }
    } finally {
      await closeModel(model);
    }
  });
});
