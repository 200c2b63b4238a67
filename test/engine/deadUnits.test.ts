/**
 * A dead unit is one that is exactly 0 on every sample, so that zeroing it changes nothing: for a ReLU unit, one never
 * active. A unit of a site without activation that stays below 0 (a trial's ConvNeXt depthwise conv) changes
 * predictions when zeroed, and is not dead.
 */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { record } from "../../src/engine/record.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { random, randomArray } from "../helpers.js";

describe("record's dead units", () => {
  it("fc1 (no activation): unit 0 (weights 0, bias 0) is dead, unit 1 (weights 0, bias −1: always −1) is not; fc2's ReLU unit with bias −100 is", async () => {
    const rand = random(3);
    const w1 = randomArray(4 * 6, rand, 1);
    w1.fill(0, 0, 12);
    const w2 = randomArray(3 * 4, rand, 1);
    w2.fill(0, 0, 4);
    const model = await openModel(
      encodeModel(
        buildClassifier({
          inputShape: [6],
          layers: [
            { op: "linear", name: "fc1", weight: w1, shape: [4, 6], bias: Float32Array.of(0, -1, 0.1, 0.2) },
            { op: "linear", name: "fc2", weight: w2, shape: [3, 4], bias: Float32Array.of(-100, 0, 0) },
            { op: "relu" },
            { op: "linear", name: "fc3", weight: randomArray(2 * 3, rand, 1), shape: [2, 3], bias: null },
          ],
        }),
      ),
      { name: "dead" },
    );
    try {
      const n = 20;
      const data: Dataset = { spec: "dead", n, shape: [1, 1, 6], images: Float32Array.from({ length: n * 6 }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % 2), numClasses: 2, classNames: ["a", "b"], source: "test" };
      const recorded = await record(model, data, { sites: ["fc1", "fc2"] });
      const [fc1, fc2] = recorded.sites;
      expect(fc1.dead).toEqual([0]);
      expect(fc1.max[1]).toBe(-1);
      // fc2 unit 0 never passes its ReLU (unit 1 may not either, by chance of its random weights on this data).
      expect(fc2.dead).toContain(0);
      for (const u of fc2.dead) expect(fc2.max[u]).toBe(0);
    } finally {
      await closeModel(model);
    }
  });
});
