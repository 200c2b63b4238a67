/**
 * Graphs exported in training mode (`torch.onnx.export(…, training=TrainingMode.TRAINING)`) and for a fixed batch:
 * opening computes them as in evaluation and for any batch, and says so (a new-user trial's train-mode Dropout export
 * gave evaluation results without a word). Hand-derived: the evaluation-mode network in float64 loops in this file.
 */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { describeNormalization } from "../../src/onnx/normalize.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";
import { errorOf, random, randomArray } from "../helpers.js";

const rand = random(21);
const W1 = randomArray(6 * 4, rand, 0.8);
const B1 = randomArray(6, rand, 0.2);
const SCALE = randomArray(6, rand, 0.5).map((v) => v + 1);
const SHIFT = randomArray(6, rand, 0.3);
const MEAN = randomArray(6, rand, 0.3);
const VAR = randomArray(6, rand, 0.3).map((v) => Math.abs(v) + 0.5);
const W2 = randomArray(3 * 6, rand, 0.8);
const B2 = randomArray(3, rand, 0.1);

/**
 * x [batch, 4] → Gemm → BatchNormalization (training_mode=1) → Relu → Dropout (ratio 0.5, training_mode true) → Gemm;
 * training_mode an initializer, or (as torch.onnx writes it) a Constant node's output.
 */
function trainingModeModel(batch: number | string, constantNode: boolean, opset = 15, readStatistics = false): Uint8Array {
  const training = onnx.TensorProto.create({ name: "training", dims: [], dataType: DataType.BOOL, int32Data: [1] });
  // Before opset 14 there is no training_mode: torch.onnx marks it by the node's five outputs.
  const bn = opset < 14
    ? makeNode("BatchNormalization", ["h", "scale", "shift", "mean", "var"], ["hb", "running_mean", "running_var", "saved_mean", "saved_var"], "bn", { epsilon: 1e-5 })
    : makeNode("BatchNormalization", ["h", "scale", "shift", "mean", "var"], ["hb", "running_mean", "running_var"], "bn", { epsilon: 1e-5, training_mode: 1 });
  const graph = onnx.GraphProto.create({
    name: "train-mode",
    node: [
      makeNode("Gemm", ["x", "W1", "B1"], ["h"], "fc1", { transB: 1 }),
      bn,
      makeNode("Relu", ["hb"], ["r"], "relu"),
      ...(constantNode ? [Object.assign(makeNode("Constant", [], ["training"], "mode"), { attribute: [onnx.AttributeProto.create({ name: "value", type: onnx.AttributeProto.AttributeType.TENSOR, t: training })] })] : []),
      makeNode("Dropout", ["r", "ratio", "training"], ["d", "mask"], "drop"),
      makeNode("Gemm", ["d", "W2", "B2"], ["logits"], "fc2", { transB: 1 }),
    ],
    initializer: [
      makeTensor("W1", [6, 4], W1),
      makeTensor("B1", [6], B1),
      makeTensor("scale", [6], SCALE),
      makeTensor("shift", [6], SHIFT),
      makeTensor("mean", [6], MEAN),
      makeTensor("var", [6], VAR),
      makeTensor("ratio", [], Float32Array.of(0.5)),
      ...(constantNode ? [] : [training]),
      makeTensor("W2", [3, 6], W2),
      makeTensor("B2", [3], B2),
    ],
    input: [makeValueInfo("x", DataType.FLOAT, [batch, 4])],
    output: [makeValueInfo("logits", DataType.FLOAT, [batch, 3]), ...(readStatistics ? [makeValueInfo("running_mean", DataType.FLOAT, [6])] : [])],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: opset }], graph });
  writeMetadata(model, { preprocessing: { layout: "flat", mean: [0], std: [1], imageShape: [1, 1, 4] }, classNames: null });
  return encodeModel(model);
}

/** The network in evaluation mode, in float64: BatchNormalization by its running statistics, no dropout. */
function evalLogits(x: ArrayLike<number>): number[] {
  const h = Array.from({ length: 6 }, (_, o) => {
    let sum = B1[o];
    for (let i = 0; i < 4; i++) sum += W1[o * 4 + i] * x[i];
    return Math.max(0, ((sum - MEAN[o]) / Math.sqrt(VAR[o] + 1e-5)) * SCALE[o] + SHIFT[o]);
  });
  return Array.from({ length: 3 }, (_, c) => h.reduce((sum, v, o) => sum + W2[c * 6 + o] * v, B2[c]));
}

const n = 200;
const data: Dataset = { spec: "random:4", n, shape: [1, 1, 4], images: randomArray(n * 4, random(22), 1).map(Math.abs), labels: Int32Array.from({ length: n }, (_, i) => i % 3), numClasses: 3, classNames: ["a", "b", "c"], source: "test" };

describe("training-mode and fixed-batch exports", () => {
  for (const [batch, opset] of [["batch", 15], [32, 15], ["batch", 13]] as const) {
    it(`a Dropout and a BatchNormalization exported in training mode compute as in evaluation, input batch ${batch}, opset ${opset}; the normalisation says so`, async () => {
      // Opset 13: BatchNormalization in training mode by its five outputs (a trial's opset-13 export scored by batch statistics).
      const model = await openModel(trainingModeModel(batch, batch === 32, opset), { name: "train-mode.onnx" });
      try {
        expect(model.normalization.trainingModeNodes).toBe(2);
        expect(model.normalization.fixedBatch).toBe(batch === 32 ? 32 : null);
        const notes = describeNormalization(model.normalization);
        expect(notes).toContain("2 Dropout/BatchNormalization nodes exported in training mode computed as in evaluation (no dropout, running statistics)");
        expect(notes.some((line) => line.startsWith("exported for a fixed batch of 32"))).toBe(batch === 32);
        const result = await evaluate(model, data);
        let correct = 0;
        let loss = 0;
        for (let s = 0; s < n; s++) {
          const z = evalLogits(data.images.subarray(s * 4, s * 4 + 4));
          const top = z.indexOf(Math.max(...z));
          if (top === data.labels[s]) correct++;
          const max = Math.max(...z);
          loss += max + Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0)) - z[data.labels[s]];
        }
        expect(result.accuracy).toBe(correct / n);
        expect(Math.abs(result.loss - loss / n)).toBeLessThan(1e-5 * loss / n);
      } finally {
        await closeModel(model);
      }
    });
  }

  it("a BatchNormalization in training mode whose running statistics the graph outputs: refused in one line (unsupported-op)", async () => {
    const error = await errorOf(() => openModel(trainingModeModel("batch", false, 13, true), { name: "train-mode.onnx" }));
    expect([error.code, error.message]).toEqual(["unsupported-op", "BatchNormalization bn is exported in training mode and the graph reads its batch statistics; export the network in evaluation mode (model.eval(), torch.onnx.export's default)"]);
  });
});
