/**
 * GELU and SiLU as lesion writes them (build.ts, torch.onnx's opset-17 form) are sites and trainable layers: a
 * built classifier computes them (against a JS float64 forward pass), and networkOf reads them back as the layers
 * they were, telling them apart by value. An activation of several nodes that is neither (x·tanh(x)) is not trained.
 * networkOf reads an exported ResNet's residual Adds (a branch that reads back, named by module path) and built back
 * it computes the same logits; another join (a Concat) is named.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { closeModel, getSession, openModel } from "../../src/engine/model.js";
import { OrtTensor } from "../../src/engine/ort.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { erf } from "../../src/onnx/float64/erf.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { classifierLayers, networkOf } from "../../src/onnx/network.js";
import { encodeModel, makeNode } from "../../src/onnx/proto.js";
import { random, randomArray } from "../helpers.js";

/**
 * The classifier built back from networkOf's reading of a 3x32x32 model computes the model's own logits (to 1e-5) on
 * `count` seeded random images.
 */
async function expectSameLogits(model: Uint8Array, found: NonNullable<ReturnType<typeof networkOf>>, count: number, seed: number): Promise<void> {
  const x = randomArray(count * 3 * 32 * 32, random(seed), 1);
  const logits = async (bytes: Uint8Array) => {
    const opened = await openModel(bytes);
    try {
      const session = await getSession(opened, "plain", () => opened.proto);
      return (await session.run({ [opened.inputName]: new OrtTensor("float32", x, [count, 3, 32, 32]) }))[opened.outputName].data as Float32Array;
    } finally {
      await closeModel(opened);
    }
  };
  const [original, built] = [await logits(model), await logits(encodeModel(buildClassifier({ layers: classifierLayers(found.network, found.values), inputShape: [3, 32, 32] })))];
  original.forEach((v, i) => expect(Math.abs(built[i] - v), `logit ${i}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))));
}

const rand = random(12);
const w1 = randomArray(6 * 5, rand, 0.8);
const w2 = randomArray(4 * 6, rand, 0.8);
const w3 = randomArray(3 * 4, rand, 0.8);
const layers: LayerSpec[] = [
  { op: "linear", name: "fc1", weight: w1, shape: [6, 5], bias: null },
  { op: "gelu" },
  { op: "linear", name: "fc2", weight: w2, shape: [4, 6], bias: null },
  { op: "silu" },
  { op: "linear", name: "fc3", weight: w3, shape: [3, 4], bias: null },
];

function dense(x: number[], w: Float32Array, out: number): number[] {
  return Array.from({ length: out }, (_, o) => x.reduce((sum, v, i) => sum + v * w[o * x.length + i], 0));
}

describe("GELU and SiLU layers", () => {
  it("buildClassifier(linear, gelu, linear, silu, linear): sites fc1 (Gelu) and fc2 (Silu); logits = a float64 JS forward pass", async () => {
    const model = await openModel(encodeModel(buildClassifier({ layers, inputShape: [5] })), { name: "gelu.onnx" });
    try {
      expect(model.sites.map((s) => [s.name, s.op])).toEqual([["fc1", "Gelu"], ["fc2", "Silu"], ["fc3", "Gemm"]]);
      const x = randomArray(4 * 5, rand, 2);
      const session = await getSession(model, "plain", () => model.proto);
      const logits = (await session.run({ [model.inputName]: new OrtTensor("float32", x, [4, 5]) }))[model.outputName].data as Float32Array;
      for (let s = 0; s < 4; s++) {
        const h1 = dense(Array.from(x.subarray(s * 5, s * 5 + 5)), w1, 6).map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
        const h2 = dense(h1, w2, 4).map((v) => v / (1 + Math.exp(-v)));
        dense(h2, w3, 3).forEach((want, c) => expect(Math.abs(logits[s * 3 + c] - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want))));
      }
    } finally {
      await closeModel(model);
    }
  });

  it("networkOf(the built classifier) reads the layers back: linear, gelu, linear, silu, linear", () => {
    const found = networkOf(buildClassifier({ layers, inputShape: [5] }), [5]);
    expect(found?.network.layers.map((l) => l.op)).toEqual(["linear", "gelu", "linear", "silu", "linear"]);
  });

  it("networkOf(a graph whose activation is x·tanh(x), written as Tanh and Mul): null, not a layer lesion trains", () => {
    const proto = buildClassifier({ layers, inputShape: [5] });
    const graph = proto.graph!;
    // Replace the SiLU's Sigmoid by Tanh: still a composite activation (x feeds Tanh and Mul), but neither GELU nor SiLU.
    const sigmoid = graph.node!.find((n) => n.opType === "Sigmoid")!;
    Object.assign(sigmoid, makeNode("Tanh", sigmoid.input!, sigmoid.output!, sigmoid.name!));
    expect(networkOf(proto, [5])).toBeNull();
  });

  it("networkOf reads an exported ResNet-18: its 8 residual Adds, the shortcut conv reading the block's input, layers named by module path; the classifier built back computes the same logits", async () => {
    const bytes = readFileSync(new URL("../fixtures/cnn/resnet18.onnx", import.meta.url));
    const found = networkOf(decodeModel(bytes), [3, 32, 32])!;
    const { layers } = found.network;
    expect(layers.filter((l) => l.op === "add").map((l) => (l as { name: string }).name)).toEqual(["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"]);
    const at = (name: string) => layers.findIndex((l) => "name" in l && l.name === name);
    // layer2.0's shortcut reads the block's input: the ReLU after layer1.1's Add.
    expect(layers[at("layer2.0.downsample.0")].input).toBe(at("layer1.1") + 1);
    expect(layers[at("layer2.0")]).toMatchObject({ op: "add", from: at("layer2.0.downsample.0") });
    expect(found.values.get("layer3.1.conv2.weight")).toHaveLength(32 * 32 * 9);
    await expectSameLogits(bytes, found, 4, 5);
  });

  it("networkOf reads a head written x.mean((2, 3)) (ReduceMean over the positions, axes dropped) as global average pooling and a flatten (a trial's ResNet had been refused)", async () => {
    const resnet = decodeModel(readFileSync(new URL("../fixtures/cnn/resnet18.onnx", import.meta.url)));
    const graph = resnet.graph!;
    const pool = graph.node!.findIndex((n) => n.opType === "GlobalAveragePool");
    const flatten = graph.node![pool + 1];
    graph.node!.splice(pool, 2, makeNode("ReduceMean", [graph.node![pool].input![0]], [flatten.output![0]], "/ReduceMean", { axes: [2, 3], keepdims: 0 }));
    const found = networkOf(resnet, [3, 32, 32])!;
    expect(found.network.layers.slice(-3).map((l) => l.op)).toEqual(["globalavgpool", "flatten", "linear"]);
    await expectSameLogits(encodeModel(resnet), found, 2, 9);
  });

  it("networkOf says why a graph joins branches another way: a Concat (recover had named no node; helper trial 'newuser31')", () => {
    const resnet = decodeModel(readFileSync(new URL("../fixtures/cnn/resnet18.onnx", import.meta.url)));
    const add = resnet.graph!.node!.find((n) => n.opType === "Add")!;
    Object.assign(add, makeNode("Concat", add.input!, add.output!, add.name!, { axis: 1 }));
    const reasons: string[] = [];
    expect(networkOf(resnet, [3, 32, 32], (reason) => reasons.push(reason))).toBeNull();
    expect(reasons).toEqual(["Concat node /layer1/layer1.0/Add joins two branches in a way lesion does not train (a concatenation, a product; a residual Add it trains)"]);
  });
});
