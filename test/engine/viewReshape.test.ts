/**
 * `x.view(x.size(0), -1)` in front of an MLP exports as Shape → Gather → Unsqueeze → Concat feeding a Reshape: the
 * dense engine still takes the chain (it is a flatten), and its sweep equals a float64 forward pass. A Reshape to a
 * computed shape that is not a flatten keeps the general path.
 */
import { describe, expect, it } from "vitest";
import { closeModel, openModel } from "../../src/engine/model.js";
import { denseSweep } from "../../src/engine/sweep/denseSweep.js";
import { buildClassifier, INPUT_NAME } from "../../src/onnx/build.js";
import { denseChain } from "../../src/onnx/chain.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel, makeNode, makeTensor, type ModelProto } from "../../src/onnx/proto.js";
import { denseReference, random, randomArray } from "../helpers.js";

const IMAGE: [number, number, number] = [1, 4, 6];

/**
 * An MLP over [1,4,6] images whose Flatten is replaced by torch's `x.view(x.size(0), -1)` nodes, or with `halves` by
 * `x.view(2 * x.size(0), 12)`: two rows per sample, which is not a flatten.
 */
function viewMlp(halves = false): ModelProto {
  const SIZES = [halves ? 12 : 24, 10, 6, 4];
  const rand = random(3);
  const layers = SIZES.slice(1).flatMap((out, i) => [
    { op: "linear" as const, name: `fc${i + 1}`, weight: randomArray(out * SIZES[i], rand, 0.5), shape: [out, SIZES[i]] as [number, number], bias: randomArray(out, rand, 0.2) },
    ...(i < SIZES.length - 2 ? [{ op: "relu" as const }] : []),
  ]);
  const model = buildClassifier({ layers: [{ op: "flatten" }, ...layers], inputShape: IMAGE });
  const graph = model.graph!;
  const flatten = graph.node!.findIndex((n) => n.opType === "Flatten");
  const out = graph.node![flatten].output![0];
  const int64 = (name: string, values: number[], dims = [values.length]) => makeTensor(name, dims, BigInt64Array.from(values, BigInt));
  graph.initializer!.push(int64("zero", [0], []), int64("two", [2], []), int64("axes", [0]), int64("rest", [halves ? 12 : -1]));
  graph.node!.splice(
    flatten,
    1,
    makeNode("Shape", [INPUT_NAME], ["shape"], "shape"),
    makeNode("Gather", ["shape", "zero"], ["batch"], "gather", { axis: 0 }),
    ...(halves ? [makeNode("Mul", ["batch", "two"], ["rows"], "mul")] : []),
    makeNode("Unsqueeze", [halves ? "rows" : "batch", "axes"], ["batch1"], "unsqueeze"),
    makeNode("Concat", ["batch1", "rest"], ["target"], "concat", { axis: 0 }),
    makeNode("Reshape", [INPUT_NAME, "target"], [out], "reshape"),
  );
  writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: IMAGE }, classNames: null });
  return model;
}

describe("dense engine behind a view(x.size(0), -1)", () => {
  it("takes the chain and equals a float64 forward pass for singles and pairs at every layer, with the loss", async () => {
    const model = await openModel(encodeModel(viewMlp()), { name: "view" });
    try {
      const chain = denseChain(model.proto);
      expect(chain?.layers.map((l) => [l.name, l.in, l.out])).toEqual([["fc1", 24, 10], ["fc2", 10, 6], ["fc3", 6, 4]]);
      const rand = random(9);
      const n = 300;
      const inputs = Float32Array.from({ length: n * 24 }, () => rand() * 2 - 1);
      const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 4));
      const intact = denseReference(chain!, inputs, labels, -1, []);
      for (let layer = 0; layer < 2; layer++) {
        const width = chain!.layers[layer].out;
        const conditions = [[0], [width - 1], [0, 1], [2, width - 1]];
        const sweep = await denseSweep({ model, chain: chain!, siteLayer: layer, inputs, labels, conditions, loss: true });
        conditions.forEach((units, i) => {
          const expected = denseReference(chain!, inputs, labels, layer, units);
          const predictions = Int32Array.from(intact.predictions);
          sweep.conditions[i].changed.forEach((s, j) => (predictions[s] = sweep.conditions[i].changedPredictions[j]));
          expect(Array.from(predictions), `layer ${layer} units ${units}`).toEqual(Array.from(expected.predictions));
          expect(sweep.conditions[i].lossSum! / expected.lossSum).toBeCloseTo(1, 6);
        });
      }
    } finally {
      await closeModel(model);
    }
  });

  it("a view to a shape that is not one row per sample ([2·batch, 12] of a 24-pixel image) leaves the dense engine", () => {
    expect(denseChain(viewMlp(true))).toBeNull();
  });
});
