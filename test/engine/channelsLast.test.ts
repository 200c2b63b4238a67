/**
 * Units on the last axis: a ConvNeXt-style block's pointwise Linear layers act on a channels-last [N, H, W, C] tensor
 * (test/fixtures/torch/make_channels_last_fixtures.py, a torch.onnx export). Their units are the C channels, not the
 * H rows (a trial's ConvNeXt had its H rows ablated and recorded as "units", silently); every number equals PyTorch
 * float64 hooks that zero `out[..., u]`. The block's output, a residual Add that no activation follows (as in
 * MobileNetV2 and ConvNeXt), is a site too, with its channels on axis 1 again.
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
  sites: Record<string, { units: number; shape: number[]; classMeans: number[]; ablations: Array<{ unit: number; predictions: number[]; loss: number }> }>;
}

const fixture = (name: string) => new URL(`../fixtures/torch/${name}`, import.meta.url);
const reference = JSON.parse(readFileSync(fixture("channels_last.reference.json"), "utf8")) as Reference;
const [n, c, h, w] = reference.shape;
const data: Dataset = { spec: "channels-last", n, shape: [c, h, w], images: Float32Array.from(reference.inputs), labels: Int32Array.from(reference.labels), numClasses: 4, classNames: ["a", "b", "c", "d"], source: "channels_last.reference.json" };

describe("sites whose units are on the last axis (Linear after a permute)", () => {
  it("openModel(channels_last.onnx): block.pwconv1 has 12 units and block.pwconv2 6, on the last axis of [6, 6, C]; the block's output (its residual Add, no activation after it) is a site, its units on axis 1", async () => {
    const model = await openModel(readFileSync(fixture("channels_last.onnx")), { name: "channels_last" });
    try {
      for (const [name, site] of Object.entries(reference.sites)) {
        const found = resolveSite(model, name);
        expect([found.units, found.shape, found.unitAxis], name).toEqual([site.units, site.shape, name === "block" ? 1 : 3]);
      }
      // A Conv's units stay its channels (axis 1).
      expect(resolveSite(model, "block.dwconv").unitAxis).toBe(1);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(every channel, zero) and record(class means over H and W) equal PyTorch float64 hooks on out[..., u]", async () => {
    const model = await openModel(readFileSync(fixture("channels_last.onnx")), { name: "channels_last" });
    try {
      const recorded = await record(model, data, { sites: Object.keys(reference.sites) });
      for (const [name, site] of Object.entries(reference.sites)) {
        const got = recorded.sites.find((s) => s.site === name)!.classMeans.data;
        site.classMeans.forEach((want, i) => expect(Math.abs(got[i] - want), `${name} class mean ${i}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want))));
        const result = await ablate(model, data, { conditions: singles(resolveSite(model, name)), loss: true });
        expect(result.unresolvedTies).toBe(0);
        expect(result.engine[name]).toBe("masked");
        expect(result.conditions).toHaveLength(site.units);
        site.ablations.forEach((a, i) => {
          const predictions = Array.from(result.predictions);
          result.changes[i].samples.forEach((s, j) => (predictions[s] = result.changes[i].predictions[j]));
          expect(predictions, `${name} unit ${a.unit}`).toEqual(a.predictions);
          expect(Math.abs(result.conditions[i].loss! - a.loss), `${name} unit ${a.unit}`).toBeLessThanOrEqual(2e-6 * a.loss);
        });
      }
    } finally {
      await closeModel(model);
    }
  });
});
