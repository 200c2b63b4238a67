/**
 * Files made by torch.onnx.export (test/fixtures/torch/make_onnx_fixtures.py): lesion opens them, names their sites,
 * computes PyTorch's logits (a graph that normalises its own input, a fixed batch size of 1, a reused ReLU module
 * included), and its ablations equal PyTorch forward hooks in float64.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { forEachBatch } from "../../src/engine/forward.js";
import { closeModel, getSession, openModel, resolveSite } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";

interface References {
  inputs: number[];
  shape: [number, number, number, number];
  labels: number[];
  models: Record<string, { logits32: number[]; logits64: number[]; ablations: Array<{ site: string; units: number[]; predictions: number[] }> }>;
}

const fixture = (name: string) => new URL(`../fixtures/torch/${name}`, import.meta.url);
const references = JSON.parse(readFileSync(fixture("references.json"), "utf8")) as References;
const [n, c, h, w] = references.shape;
const data: Dataset = {
  spec: "torch-fixture",
  n,
  shape: [c, h, w],
  images: Float32Array.from(references.inputs),
  labels: Int32Array.from(references.labels),
  numClasses: 5,
  classNames: ["a", "b", "c", "d", "e"],
  source: "references.json",
};

const SITES: Record<string, string[]> = {
  mlp: ["fc1", "fc2", "fc3"],
  mlp_normalize: ["fc1", "fc2", "fc3"],
  mlp_reused_relu: ["fc1", "fc2", "out"],
  cnn: ["conv1", "conv2", "fc1", "fc2"],
  cnn_batch1: ["conv1", "conv2", "fc1", "fc2"],
  cnn_tanh_avgpool: ["conv1", "conv2", "fc1", "fc2"],
};

function argmax(values: ArrayLike<number>, from: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (values[from + j] > values[from + best]) best = j;
  return best;
}

describe("torch.onnx.export fixtures", () => {
  for (const [name, sites] of Object.entries(SITES)) {
    it(`openModel(${name}.onnx) names the sites ${sites.join(", ")} and computes PyTorch's logits in batches`, async () => {
      const model = await openModel(readFileSync(fixture(`${name}.onnx`)), { name });
      try {
        expect(model.sites.map((s) => s.name)).toEqual(sites);
        const reference = references.models[name].logits32;
        const logits = new Float32Array(n * 5);
        const session = await getSession(model, "plain", () => model.proto);
        // Batches of 16: a fixed-batch-size-1 export must still run them.
        await forEachBatch(model, session, data, { batchSize: 16 }, ({ start, values }) => logits.set(values[model.outputName], start * 5));
        logits.forEach((v, i) => expect(Math.abs(v - reference[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(reference[i]))));
        const result = await evaluate(model, data, { batchSize: 16 });
        const expected = references.labels.filter((label, s) => argmax(references.models[name].logits64, s * 5, 5) === label).length;
        expect(result.accuracy).toBe(expected / n);
      } finally {
        await closeModel(model);
      }
    });

    it(`ablate(${name}.onnx, every unit of each hidden site) equals PyTorch forward hooks in float64`, async () => {
      const model = await openModel(readFileSync(fixture(`${name}.onnx`)), { name });
      try {
        const ablations = references.models[name].ablations;
        expect(ablations.length).toBeGreaterThan(0);
        const result = await ablate(model, data, { conditions: ablations.map((a) => condition(resolveSite(model, a.site), a.units)) });
        expect(result.unresolvedTies).toBe(0);
        // Plain exported MLPs take the dense engine; a graph that normalises its input, or a CNN, the delta path where a
        // site reaches its next Conv or Gemm through ReLU, pooling or Flatten only (a Tanh between: the masked one).
        const dense = name === "mlp" || name === "mlp_reused_relu";
        for (const e of Object.values(result.engine)) expect(dense ? e === "dense" : e !== "dense").toBe(true);
        if (!dense) expect(Object.values(result.engine)).toContain("delta");
        ablations.forEach((a, i) => {
          const predictions = Array.from(result.predictions);
          result.changes[i].samples.forEach((s, j) => (predictions[s] = result.changes[i].predictions[j]));
          expect(predictions, `${a.site} ${a.units}`).toEqual(a.predictions);
        });
      } finally {
        await closeModel(model);
      }
    });
  }
});

describe("resolveSite by another name", () => {
  it("resolveSite takes a site's activation node, its tensor, or the activation module a PyTorch hook names; not a module called twice", async () => {
    const gelu = await openModel(fixture("mlp_gelu.onnx").pathname);
    const reused = await openModel(fixture("mlp_reused_relu.onnx").pathname);
    try {
      // mlp_gelu: Linear fc2 then the module act2 (SiLU, its last node /act2/Mul); fc3's GELU ends in /act3/Mul_5.
      expect(resolveSite(gelu, "act2").name).toBe("fc2");
      expect(resolveSite(gelu, "/act3/Mul_5").name).toBe("fc3");
      expect(resolveSite(gelu, resolveSite(gelu, "fc1").tensor).name).toBe("fc1");
      // mlp_reused_relu: one nn.ReLU `act` applied after fc1 and after fc2 (/act/Relu, /act_1/Relu): `act` names no one site.
      expect(resolveSite(reused, "/act_1/Relu").name).toBe("fc2");
      expect(() => resolveSite(reused, "act")).toThrow(/site 'act' is ambiguous in mlp_reused_relu\.onnx/);
    } finally {
      await closeModel(gelu);
      await closeModel(reused);
    }
  });
});
