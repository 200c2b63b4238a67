/**
 * study's default `pairs: "cheap"`: every dense site of ≤ 100 units whose zero ablations take a fast engine, the
 * dense one or the delta path. A trial's Tanh MLP (and a BatchNorm one) had got no pair sweep at all, silently:
 * "cheap" had meant "a layer of a ReLU MLP". A CNN's channels stay out (a convolution per condition).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { study } from "../../src/runs/study.js";
import { random, randomCnn, randomMlp } from "../helpers.js";

let root = "";
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "lesion-study-pairs-"));
  process.env.LESION_CACHE_DIR = join(root, "cache");
});
afterAll(() => {
  delete process.env.LESION_CACHE_DIR;
});

function data(n: number, shape: [number, number, number]): Dataset {
  const rand = random(4);
  const size = shape[0] * shape[1] * shape[2];
  return { spec: "test:pairs", n, shape, images: Float32Array.from({ length: n * size }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % 3), numClasses: 3, classNames: ["a", "b", "c"], source: "test" };
}

describe("study({pairs: 'cheap'})", () => {
  it("a Tanh MLP (no dense engine): pairs of both hidden sites, every pair of units", async () => {
    const proto = decodeModel(randomMlp([16, 10, 8, 3], 5, [1, 4, 4]));
    for (const node of proto.graph!.node!) if (node.opType === "Relu") node.opType = "Tanh";
    const model = await openModel(encodeModel(proto), { name: "tanh.onnx" });
    try {
      const dir = join(root, "tanh");
      const result = await study(model, data(60, [1, 4, 4]), { dir, fractions: [0.5, 1], repeats: 1 });
      expect(result.pairSites).toEqual(["fc1", "fc2"]);
      expect(JSON.parse(readFileSync(join(dir, "pairs-fc1", "summary.json"), "utf8")).conditions).toHaveLength(45);
      expect(JSON.parse(readFileSync(join(dir, "pairs-fc2", "summary.json"), "utf8")).conditions).toHaveLength(28);
    } finally {
      await closeModel(model);
    }
  });

  it("a CNN: no pairs of its channels", async () => {
    const model = await openModel(randomCnn(2, 3), { name: "cnn.onnx" });
    try {
      const result = await study(model, data(30, [1, 8, 8]), { dir: join(root, "cnn"), fractions: [0.5, 1], repeats: 1 });
      expect(result.sites).toEqual(["conv1", "conv2"]);
      expect(result.pairSites).toEqual([]);
    } finally {
      await closeModel(model);
    }
  });
});
