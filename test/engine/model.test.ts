import { describe, expect, it } from "vitest";
import { closest } from "../../src/errors.js";
import { loadDataset } from "../../src/data/loadDataset.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { importModel } from "../../src/models/importModel.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";
import { randomCnn, randomMlp } from "../helpers.js";
import type { Dataset } from "../../src/data/types.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { describeNormalization } from "../../src/onnx/normalize.js";

const RESNET18 = new URL("../fixtures/cnn/resnet18.onnx", import.meta.url).pathname;

describe("openModel", () => {
  it("openModel(mlp) lists the ReLU outputs named after their layers, and the logits layer", async () => {
    const model = await openModel(randomMlp([16, 8, 6, 3]), { name: "mlp" });
    try {
      expect(model.sites.map((s) => [s.name, s.op, s.kind, s.units])).toEqual([
        ["fc1", "Relu", "dense", 8],
        ["fc2", "Relu", "dense", 6],
        ["fc3", "Gemm", "dense", 3],
      ]);
      expect(model.numClasses).toBe(3);
      expect(model.inputShape).toEqual([16]);
    } finally {
      await closeModel(model);
    }
  });

  it("openModel(cnn) gives conv sites with channels as units", async () => {
    const model = await openModel(randomCnn(), { name: "cnn" });
    try {
      expect(model.sites.map((s) => [s.name, s.kind, s.units, s.shape])).toEqual([
        ["conv1", "conv", 4, [4, 8, 8]],
        ["conv2", "conv", 6, [6, 4, 4]],
        ["fc", "dense", 5, [5]],
      ]);
    } finally {
      await closeModel(model);
    }
  });

  it("resolveSite(model, 'fc') names the closest sites", async () => {
    const model = await openModel(randomMlp([16, 8, 6, 3]), { name: "mlp" });
    try {
      expect(() => resolveSite(model, "fc")).toThrow(/unknown site 'fc' in mlp; closest: fc1, fc2, fc3/);
    } finally {
      await closeModel(model);
    }
  });

  it("resolveSite(resnet18, 'layer2.1.relu'): torchvision's BasicBlock applies its one ReLU module twice; the error names both uses' sites (helper trial 'newuser45')", async () => {
    const model = await openModel(RESNET18);
    try {
      expect(() => resolveSite(model, "layer2.1.relu")).toThrow("site 'layer2.1.relu' is ambiguous in resnet18.onnx: one activation module applied 2 times, each use a site of its own: layer2.1.conv1, layer2.1");
      // A module that is no site is named for what it is (helper trial 'newuser66': arbitrary "closest" names alone).
      expect(() => resolveSite(model, "avgpool")).toThrow(/^unknown site 'avgpool' in resnet18\.onnx; 'avgpool' is a GlobalAveragePool layer, not a site \(sites are the outputs of activations and of Linear and Conv layers\); closest: /);
      // The network's stem calls its own `relu` once: the module's name is that site's.
      expect(resolveSite(model, "relu").name).toBe("conv1");
    } finally {
      await closeModel(model);
    }
  });

  it("evaluate(an export that records no normalisation) warns that the pixels go in as they are; imported with its mean and std it does not, and scores PyTorch's 70.7 % (helper trial 'newuser45': 18.4 % without a word)", { timeout: 60_000 }, async () => {
    const data = await loadDataset("cifar10:test");
    const raw = await openModel(RESNET18);
    const imported = await openModel((await importModel(RESNET18, { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] })).bytes, { name: "imported.onnx" });
    try {
      expect(raw.preprocessingRecorded).toBe(false);
      const warned = await evaluate(raw, data);
      expect(warned.warnings).toEqual([expect.stringMatching(/^resnet18\.onnx records no input normalisation, so it is given the pixels in \[0,1\] as they are: .*lesion import resnet18\.onnx --mean … --std … -o OUT\.onnx; in the library importModel\(path, \{ mean, std \}\)\); a model that rescales in its graph \(Keras Rescaling\(1\/255\)\) takes pixels in 0\.\.255: mean 0, std 0\.00392156862745098/)]);
      const result = await evaluate(imported, data);
      expect([imported.preprocessingRecorded, result.warnings, result.accuracy]).toEqual([true, [], 0.707]);
    } finally {
      await closeModel(raw);
      await closeModel(imported);
    }
  });

  it("evaluate warns where the network is no better than always answering the data's most frequent class, from 100 samples of two classes on (a trial's MNIST network on Fashion-MNIST studied at 5.50 % without a word)", async () => {
    // Weights 0, bias favouring class 0: every image is called class 0, so the accuracy is class 0's share.
    const proto = buildClassifier({ layers: [{ op: "linear", name: "fc", weight: new Float32Array(12), shape: [3, 4], bias: Float32Array.of(1, 0, 0) }], inputShape: [4] });
    writeMetadata(proto, { preprocessing: { layout: "flat", mean: [0], std: [1], imageShape: [1, 1, 4] }, classNames: null });
    const model = await openModel(encodeModel(proto), { name: "constant.onnx" });
    const data = (labels: number[]): Dataset => ({ spec: "constant:test", n: labels.length, shape: [1, 1, 4], images: new Float32Array(labels.length * 4), labels: Int32Array.from(labels), numClasses: 3, classNames: ["a", "b", "c"], source: "test" });
    const labels = (zeros: number, ones: number) => [...new Array<number>(zeros).fill(0), ...new Array<number>(ones).fill(1)];
    try {
      expect((await evaluate(model, data(labels(80, 120)))).warnings).toEqual(["constant.onnx scores 40.00% on constant:test, no better than always answering its most frequent class (60.00%): check that this is the data it was trained for, given as it was trained (lesion info shows the input normalisation it records)"]);
      expect((await evaluate(model, data(labels(120, 80)))).warnings).toHaveLength(1);
      // Fewer than 100 samples, or one class alone: no chance level worth the word.
      expect((await evaluate(model, data(labels(30, 60)))).warnings).toEqual([]);
      expect((await evaluate(model, data(labels(0, 200)))).warnings).toEqual([]);
    } finally {
      await closeModel(model);
    }
  });

  it("a ViT-style token tensor (Conv, flatten, transpose(1, 2)) has its units on the last axis; attention's [tokens, batch, features] tensors are left out, said (helper trial 'newuser60')", async () => {
    // x[N,1,4,4] → Conv 3 channels 2x2 stride 2 → [N,3,2,2] → Reshape [N,3,4] → Transpose(0,2,1) → [N,4,3] → Relu (site
    // "tokens": 3 channels on the last axis, 4 tokens) → Transpose(1,0,2) → [4,N,3] → Relu (batch second: no site)
    // → Transpose(1,0,2) → Reshape [N,12] → Gemm → logits [N,2].
    const graph = onnx.GraphProto.create({
      name: "g",
      node: [
        makeNode("Conv", ["x", "Wc"], ["c"], "/patch/Conv", { kernel_shape: [2, 2], strides: [2, 2] }),
        makeNode("Reshape", ["c", "s3"], ["flat"], "/Reshape"),
        makeNode("Transpose", ["flat"], ["tok"], "/Transpose", { perm: [0, 2, 1] }),
        makeNode("Relu", ["tok"], ["tokens"], "/tokens/Relu"),
        makeNode("Transpose", ["tokens"], ["tbf"], "/attn/Transpose", { perm: [1, 0, 2] }),
        makeNode("Relu", ["tbf"], ["inner"], "/attn/Relu"),
        makeNode("Transpose", ["inner"], ["back"], "/attn/Transpose_1", { perm: [1, 0, 2] }),
        makeNode("Reshape", ["back", "s2"], ["vec"], "/Reshape_1"),
        makeNode("Gemm", ["vec", "Wf"], ["logits"], "/head/Gemm", { transB: 1 }),
      ],
      initializer: [
        makeTensor("Wc", [3, 1, 2, 2], Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2)),
        makeTensor("s3", [3], BigInt64Array.of(0n, 3n, 4n)),
        makeTensor("s2", [2], BigInt64Array.of(0n, 12n)),
        makeTensor("Wf", [2, 12], Float32Array.from({ length: 24 }, (_, i) => (i % 3) - 1)),
      ],
      input: [makeValueInfo("x", DataType.FLOAT, ["N", 1, 4, 4])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["N", 2])],
    });
    const model = await openModel(encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph })), { name: "tokens.onnx" });
    try {
      expect(model.sites.map((s) => [s.name, s.units, s.shape, s.unitAxis])).toEqual([["patch", 3, [3, 2, 2], 1], ["tokens", 3, [4, 3], 2], ["head", 2, [2], 1]]);
      expect(model.normalization.leftOutSites).toEqual(["attn"]);
      expect(describeNormalization(model.normalization)).toContain("not sites, their batch not the first axis (attention in [tokens, batch, features] layout): attn");
    } finally {
      await closeModel(model);
    }
  });

  it("closest('stage1', a ConvNeXt's sites) puts the sites under stage1 first, not the short names nearest by edit distance", () => {
    expect(closest("stage1", ["stem.0", "down.1", "head", "stage1.0.dwconv", "stage1.1.dwconv", "stage2.0.dwconv"])).toEqual(["stage1.0.dwconv", "stage1.1.dwconv", "stem.0"]);
  });

  it("openModel(non-ONNX bytes) is a bad-model error", async () => {
    await expect(openModel(new TextEncoder().encode("hello, not a model"), { name: "x.onnx" })).rejects.toMatchObject({ code: "bad-model" });
  });

  // A trial's Keras export taking uint8 pixels (Cast, then Rescaling in the graph) failed in onnxruntime's words:
  // "Unexpected input data type. Actual: (tensor(float)), expected: (tensor(uint8))".
  it("openModel(a graph with a uint8 input) is one bad-model line naming the type and what to do", async () => {
    const graph = onnx.GraphProto.create({
      name: "g",
      node: [makeNode("Cast", ["x"], ["f"], "cast", { to: DataType.FLOAT }), makeNode("Mul", ["f", "scale"], ["s"], "rescale"), makeNode("MatMul", ["s", "w"], ["logits"], "dense")],
      initializer: [makeTensor("scale", [], Float32Array.of(1 / 255)), makeTensor("w", [4, 3], new Float32Array(12).fill(0.1))],
      input: [makeValueInfo("x", DataType.UINT8, ["N", 4])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["N", 3])],
    });
    const bytes = encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph }));
    const refused = openModel(bytes, { name: "u8.onnx" });
    await expect(refused).rejects.toMatchObject({ code: "bad-model" });
    await expect(refused).rejects.toThrow(/^u8\.onnx takes uint8 input \(x\); lesion feeds float32 images: export the model with a float input .*--mean 0 --std 0\.00392156862745098\)$/);
  });
});
