/** maskedSweep's near ties on a graph onnxruntime cannot run in float64 (Conv): settled by lesion's float64 interpreter. */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { maskedSweep } from "../../src/engine/sweep/maskedSweep.js";
import { closeModel, getSession, openModel, resolveSite } from "../../src/engine/model.js";
import { OrtTensor } from "../../src/engine/ort.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { DataType, decodeModel, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { info } from "../../src/models/info.js";
import { characterize } from "../../src/study/characterize.js";
import { singles } from "../../src/study/conditions.js";
import { random, randomArray } from "../helpers.js";

/**
 * A CNN whose class 1 logit is class 0's times (1 + 2^-20) exactly (weights scaled, no bias) and whose other classes sit at
 * −1000: every row is a float32 near tie (margin ≈ 1e-6 relative), and in exact arithmetic class 1 wins exactly
 * when z0 > 0. z0 itself is far from 0, so its sign is read from a float32 run of the network with the filter's
 * incoming weights and bias zeroed (the same as zeroing its ReLU output), a different graph from the sweep's.
 */
function tiedCnn(conv1Zeroed: number | null, head: "flatten" | "mean" = "flatten"): Uint8Array {
  const rand = random(7);
  const w1 = randomArray(4 * 9, rand, 0.6);
  const b1 = randomArray(4, rand, 0.1);
  if (conv1Zeroed !== null) {
    w1.fill(0, conv1Zeroed * 9, (conv1Zeroed + 1) * 9);
    b1[conv1Zeroed] = 0;
  }
  const w2 = randomArray(6 * 4 * 9, rand, 0.3);
  // head "mean": PyTorch's x.mean((2, 3)) (ReduceMean over the 4×4 map) instead of Flatten, 6 features.
  const features = head === "mean" ? 6 : 96;
  // Weights k·unit (k = ±1..±7: three significant bits), so that times (1 + 2^-20) they are still exact in float32 and
  // z1 = z0·(1 + 2^-20) exactly: class 1 wins iff z0 > 0, however much z0's terms cancel.
  const unit = head === "mean" ? 0.5 : 1 / 32;
  const row = Float32Array.from(randomArray(features, rand, 1), (v) => (v < 0 ? -1 : 1) * Math.min(7, Math.max(1, Math.round(Math.abs(v) * 7))) * unit);
  const fc = new Float32Array(5 * features);
  fc.set(row, 0);
  fc.set(row.map((v) => v * (1 + 2 ** -20)), features);
  for (let i = 0; i < features; i++) if (fc[features + i] !== row[i] * (1 + 2 ** -20)) throw new Error("a tied weight is not exact");
  const layers: LayerSpec[] = [
    { op: "conv", name: "conv1", weight: w1, shape: [4, 1, 3, 3], bias: b1, stride: 1, padding: 1 },
    { op: "relu" },
    { op: "maxpool", kernel: 2, stride: 2 },
    { op: "conv", name: "conv2", weight: w2, shape: [6, 4, 3, 3], bias: null, stride: 1, padding: 1 },
    { op: "relu" },
    { op: "flatten" },
    { op: "linear", name: "fc", weight: fc, shape: [5, features], bias: Float32Array.of(0, 0, -1000, -1000, -1000) },
  ];
  const model = buildClassifier({ layers, inputShape: [1, 8, 8] });
  if (head === "mean") {
    const flatten = model.graph!.node!.find((n) => n.opType === "Flatten")!;
    Object.assign(flatten, makeNode("ReduceMean", flatten.input!, flatten.output!, flatten.name!, { axes: [2, 3], keepdims: 0 }));
  }
  writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 8, 8] }, classNames: null });
  return encodeModel(model);
}

describe("maskedSweep settles Conv-graph ties in float64", () => {
  it.each(["flatten", "mean"] as const)("maskedSweep(tied CNN, head %s, every conv1 filter): every row a near tie, each decided by the sign of z0, none unresolved", async (head) => {
    const n = 40;
    const rand = random(11);
    const images = Float32Array.from({ length: n * 64 }, () => rand());
    const data: Dataset = { spec: "tied", n, shape: [1, 8, 8], images, labels: Int32Array.from({ length: n }, (_, i) => i % 2), numClasses: 5, classNames: ["0", "1", "2", "3", "4"], source: "test" };
    const expected = async (zeroed: number | null) => {
      const model = await openModel(tiedCnn(zeroed, head), { name: "tied" });
      try {
        const session = await getSession(model, "plain", () => model.proto);
        const input = Float32Array.from(images, (v) => Math.fround(Math.fround(v - 0.5) / 0.5));
        const logits = (await session.run({ [model.inputName]: new OrtTensor("float32", input, [n, 1, 8, 8]) }))[model.outputName].data as Float32Array;
        return Array.from({ length: n }, (_, s) => {
          expect(Math.abs(logits[s * 5])).toBeGreaterThan(1e-5); // float32 error of z0 here is ~1e-7: its sign is certain
          return logits[s * 5] > 0 ? 1 : 0;
        });
      } finally {
        await closeModel(model);
      }
    };
    const model = await openModel(tiedCnn(null, head), { name: "tied" });
    try {
      const site = resolveSite(model, "conv1");
      const result = await maskedSweep({ model, site, data, conditions: [0, 1, 2, 3].map((u) => ({ units: [u], mode: "zero" as const })) });
      expect(result.stats.unresolvedTies).toBe(0);
      expect(result.stats.rowsFloat64).toBeGreaterThanOrEqual(n);
      const intact = await expected(null);
      expect(Array.from(result.intact.predictions)).toEqual(intact);
      for (let u = 0; u < 4; u++) {
        const predictions: number[] = [...intact];
        result.conditions[u].changed.forEach((s, j) => (predictions[s] = result.conditions[u].changedPredictions[j]));
        expect(predictions, `conv1:${u}`).toEqual(await expected(u));
      }
    } finally {
      await closeModel(model);
    }
  });
});

describe("near ties no float64 path can settle", () => {
  it("ablate(tied CNN whose conv2 ReLU is a Softsign, which neither onnxruntime's float64 nor lesion's interpreter computes): the ties stay unresolved, and a warning names Softsign", async () => {
    const proto = decodeModel(tiedCnn(null));
    // The second ReLU (after conv2) becomes x/(1+|x|): monotone, so class 1 is still class 0 times (1 + 2^-20).
    const relus = proto.graph!.node!.filter((n) => n.opType === "Relu");
    relus[1].opType = "Softsign";
    const n = 12;
    const rand = random(5);
    const data: Dataset = { spec: "tied", n, shape: [1, 8, 8], images: Float32Array.from({ length: n * 64 }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % 2), numClasses: 5, classNames: ["0", "1", "2", "3", "4"], source: "test" };
    const model = await openModel(encodeModel(proto), { name: "softsign" });
    try {
      const result = await ablate(model, data, { conditions: singles(resolveSite(model, "conv1")).slice(0, 2), loss: false });
      // Every row is a near tie (the intact rows and both conditions' rows), none settled.
      expect(result.unresolvedTies).toBeGreaterThanOrEqual(n);
      expect(result.warnings).toEqual([`${result.unresolvedTies} near tie(s) could not be settled in float64 (lesion's float64 interpreter has no Softsign, and onnxruntime no float64 kernel for some op of the graph): they keep their float32 prediction`]);
      // characterize's own ablations (its singles and group ablations) count and say theirs too.
      const found = await characterize(model, data, { sites: ["conv1"], map: false });
      expect(found.unresolvedTies).toBeGreaterThanOrEqual(n);
      expect(found.unresolvedTies).toBe(found.indicators.unresolvedTies + found.populations[0].unresolvedTies);
      expect(found.warnings.length).toBeGreaterThan(0);
      for (const w of found.warnings) expect(w).toMatch(/near tie\(s\) could not be settled in float64 \(lesion's float64 interpreter has no Softsign/);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(an LSTM whose logits tie, which onnxruntime accepts in float64 but cannot run): the ties stay unresolved and a warning names LSTM, no internal error (helper trial 'newuser60')", async () => {
    // x[N,1,4,4] → Reshape [N,4,4] (rows as a sequence) → Transpose [4,N,4] → LSTM (3 hidden) → Y_h [1,N,3] → Reshape
    // [N,3] → Gemm: class 1's logit is class 0's times (1 + 2^-20), others −1000, so every row is a near tie.
    const rand = random(3);
    const row = Float32Array.of(0.5, -0.25, 0.75);
    const fc = new Float32Array(15);
    fc.set(row, 0);
    fc.set(row.map((v) => v * (1 + 2 ** -20)), 3);
    const graph = onnx.GraphProto.create({
      name: "lstm",
      node: [
        makeNode("Reshape", ["x", "seq"], ["rows"], "/Reshape"),
        makeNode("Transpose", ["rows"], ["steps"], "/Transpose", { perm: [1, 0, 2] }),
        makeNode("LSTM", ["steps", "W", "R", "B"], ["", "h"], "/lstm/LSTM", { hidden_size: 3 }),
        makeNode("Reshape", ["h", "flat"], ["hidden"], "/Reshape_1"),
        makeNode("Gemm", ["hidden", "Wf", "bf"], ["logits"], "/fc/Gemm", { transB: 1 }),
      ],
      initializer: [
        makeTensor("seq", [3], BigInt64Array.of(0n, 4n, 4n)),
        makeTensor("W", [1, 12, 4], randomArray(48, rand, 0.8)),
        makeTensor("R", [1, 12, 3], randomArray(36, rand, 0.8)),
        makeTensor("B", [1, 24], randomArray(24, rand, 0.2)),
        makeTensor("flat", [2], BigInt64Array.of(-1n, 3n)),
        makeTensor("Wf", [5, 3], fc),
        makeTensor("bf", [5], Float32Array.of(0, 0, -1000, -1000, -1000)),
      ],
      input: [makeValueInfo("x", DataType.FLOAT, ["N", 1, 4, 4])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["N", 5])],
    });
    const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph });
    writeMetadata(proto, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 4, 4] }, classNames: null });
    const n = 10;
    const data: Dataset = { spec: "tied-lstm", n, shape: [1, 4, 4], images: Float32Array.from({ length: n * 16 }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % 2), numClasses: 5, classNames: ["0", "1", "2", "3", "4"], source: "test" };
    const model = await openModel(encodeModel(proto), { name: "lstm" });
    try {
      // info says why the LSTM is no site.
      expect(info(model).notes).toEqual(["not sites: the hidden states of LSTM /lstm/LSTM (lesion's sites are the activations of feed-forward layers; recurrent layers are not studied)"]);
      const result = await ablate(model, data, { conditions: singles(resolveSite(model, "fc"), "zero", [2]), loss: false });
      expect(result.unresolvedTies).toBeGreaterThanOrEqual(n);
      expect(result.warnings).toEqual([expect.stringMatching(/^\d+ near tie\(s\) could not be settled in float64 \(lesion's float64 interpreter has no LSTM/)]);
    } finally {
      await closeModel(model);
    }
  });
});
