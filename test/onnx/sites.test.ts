/**
 * Site names from the framework's layer names kept in node names, on hand-built graphs: tf2onnx/keras2onnx
 * (`sequential/dense_1/MatMul`, weights named `…/ReadVariableOp:0`) and PyTorch's TorchScript exporter 1.13+/2.x
 * (`/layer1/layer1.0/relu/Relu`, weights named `onnx::Conv_31` after batch-norm folding). Expected names are the
 * layer names the frameworks gave (Keras layer names; PyTorch module paths from `named_modules()`).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { closeModel, getSession, openModel } from "../../src/engine/model.js";
import { OrtTensor } from "../../src/engine/ort.js";
import { locateSites, scopeName } from "../../src/onnx/sites.js";
import { makeNode, makeTensor, onnx, type NodeProto } from "../../src/onnx/proto.js";

const weight = (name: string, dims: number[]) => makeTensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

function graph(nodes: NodeProto[], initializers: ReturnType<typeof weight>[]) {
  return onnx.GraphProto.create({ name: "g", node: nodes, initializer: initializers, input: [], output: [{ name: "logits" }] });
}

describe("locateSites names sites after the framework's layers", () => {
  it("locateSites(tf2onnx Keras MLP) names sites dense and dense_1, not matmulN", () => {
    const g = graph(
      [
        makeNode("Reshape", ["x", "sequential/flatten/Const:0"], ["flat"], "sequential/flatten/Reshape"),
        makeNode("MatMul", ["flat", "sequential/dense/MatMul/ReadVariableOp:0"], ["m0"], "sequential/dense/MatMul"),
        makeNode("Add", ["m0", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["a0"], "sequential/dense/BiasAdd"),
        makeNode("Relu", ["a0"], ["r0"], "sequential/dense/Relu"),
        makeNode("MatMul", ["r0", "sequential/dense_1/MatMul/ReadVariableOp:0"], ["m1"], "sequential/dense_1/MatMul"),
        makeNode("Add", ["m1", "sequential/dense_1/BiasAdd/ReadVariableOp:0"], ["logits"], "sequential/dense_1/BiasAdd"),
      ],
      [
        makeTensor("sequential/flatten/Const:0", [2], BigInt64Array.of(-1n, 16n)),
        weight("sequential/dense/MatMul/ReadVariableOp:0", [16, 8]),
        weight("sequential/dense/BiasAdd/ReadVariableOp:0", [8]),
        weight("sequential/dense_1/MatMul/ReadVariableOp:0", [8, 3]),
        weight("sequential/dense_1/BiasAdd/ReadVariableOp:0", [3]),
      ],
    );
    expect(locateSites(g).map((s) => [s.name, s.op])).toEqual([
      ["dense", "Relu"],
      ["dense_1", "MatMul"],
    ]);
  });

  // A trial's Keras model of nested models (encoder, decoder, head), each with a layer `fc`: the sites were numbered
  // fc, fc_1, fc_2, names no layer has, and `--site decoder/fc` was unknown.
  it("locateSites(tf2onnx, Keras layers of one name in nested models) names them by as many scopes as tell them apart", () => {
    const layer = (scope: string, input: string, output: string, relu: boolean) => [
      makeNode("MatMul", [input, `${scope}/MatMul/ReadVariableOp:0`], [`${output}m`], `${scope}/MatMul`),
      makeNode("Add", [`${output}m`, `${scope}/BiasAdd/ReadVariableOp:0`], [relu ? `${output}a` : output], `${scope}/BiasAdd`),
      ...(relu ? [makeNode("Relu", [`${output}a`], [output], `${scope}/Relu`)] : []),
    ];
    const scopes = ["model/encoder/fc", "model/decoder/fc", "model/head/block/fc", "model/tail/block/fc", "model/out"];
    const g = graph(
      [...layer(scopes[0], "x", "h0", true), ...layer(scopes[1], "h0", "h1", true), ...layer(scopes[2], "h1", "h2", true), ...layer(scopes[3], "h2", "h3", true), ...layer(scopes[4], "h3", "logits", false)],
      scopes.flatMap((scope) => [weight(`${scope}/MatMul/ReadVariableOp:0`, [4, 4]), weight(`${scope}/BiasAdd/ReadVariableOp:0`, [4])]),
    );
    expect(locateSites(g).map((s) => s.name)).toEqual(["encoder/fc", "decoder/fc", "head/block/fc", "tail/block/fc", "out"]);
  });

  // A trial's tf2onnx graph whose nodes carry tf2onnx's generic names: sites MatMul__0 and MatMul__10.
  it("locateSites(tf2onnx's generic node names MatMul__0) falls back to op and position, as for unnamed nodes", () => {
    const g = graph(
      [makeNode("MatMul", ["x", "W"], ["m"], "MatMul__0"), makeNode("Relu", ["m"], ["r"], "Relu__3"), makeNode("MatMul", ["r", "W2"], ["logits"], "MatMul__10")],
      [weight("W", [4, 5]), weight("W2", [5, 3])],
    );
    expect(locateSites(g).map((s) => s.name)).toEqual(["matmul1", "matmul2"]);
  });

  it("locateSites(keras2onnx nodes named after the layer) keeps dense_1", () => {
    const g = graph(
      [makeNode("MatMul", ["x", "W"], ["m"], "dense_1"), makeNode("Relu", ["m"], ["r"], "dense_1_relu"), makeNode("MatMul", ["r", "W2"], ["logits"], "dense_2")],
      [weight("W", [4, 5]), weight("W2", [5, 3])],
    );
    expect(locateSites(g).map((s) => s.name)).toEqual(["dense_1", "dense_2"]);
  });

  it("locateSites(torch 2.x ResNet block) names sites by module path: layer1.0.conv1, layer1.0.downsample.0, the block output after the residual Add layer1.0, fc", () => {
    const g = graph(
      [
        makeNode("Conv", ["x", "onnx::Conv_31", "onnx::Conv_32"], ["c1"], "/layer1/layer1.0/conv1/Conv"),
        makeNode("Conv", ["x", "onnx::Conv_34"], ["d"], "/layer1/layer1.0/downsample/downsample.0/Conv"),
        makeNode("Add", ["c1", "d"], ["s"], "/layer1/layer1.0/Add"),
        makeNode("Relu", ["s"], ["r"], "/layer1/layer1.0/relu/Relu"),
        makeNode("Flatten", ["r"], ["f"], "/Flatten"),
        makeNode("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], "/fc/Gemm", { transB: 1 }),
      ],
      [weight("onnx::Conv_31", [2, 1, 3, 3]), weight("onnx::Conv_32", [2]), weight("onnx::Conv_34", [2, 1, 1, 1]), weight("fc.weight", [3, 8]), weight("fc.bias", [3])],
    );
    expect(locateSites(g).map((s) => [s.name, s.op])).toEqual([
      ["layer1.0.conv1", "Conv"],
      ["layer1.0.downsample.0", "Conv"],
      ["layer1.0", "Relu"],
      ["fc", "Gemm"],
    ]);
  });

  it("locateSites(torchvision BasicBlock, ReLU module called twice) names the block output layer2.1, not relu_1; a Keras residual keeps its activation's name", () => {
    const torch = graph(
      [
        makeNode("Conv", ["x", "onnx::Conv_1", "onnx::Conv_2"], ["c1"], "/layer2/layer2.1/conv1/Conv"),
        makeNode("Relu", ["c1"], ["r1"], "/layer2/layer2.1/relu/Relu"),
        makeNode("Conv", ["r1", "onnx::Conv_3", "onnx::Conv_4"], ["c2"], "/layer2/layer2.1/conv2/Conv"),
        makeNode("Add", ["c2", "x"], ["s"], "/layer2/layer2.1/Add"),
        makeNode("Relu", ["s"], ["r2"], "/layer2/layer2.1/relu_1/Relu"),
        makeNode("Flatten", ["r2"], ["f"], "/Flatten"),
        makeNode("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], "/fc/Gemm", { transB: 1 }),
      ],
      [weight("onnx::Conv_1", [2, 2, 3, 3]), weight("onnx::Conv_2", [2]), weight("onnx::Conv_3", [2, 2, 3, 3]), weight("onnx::Conv_4", [2]), weight("fc.weight", [3, 8]), weight("fc.bias", [3])],
    );
    expect(locateSites(torch).map((s) => s.name)).toEqual(["layer2.1.conv1", "layer2.1.conv2", "layer2.1", "fc"]);
    const keras = graph(
      [
        makeNode("Conv", ["x", "model/conv2d/Conv2D/ReadVariableOp:0"], ["c"], "model/conv2d/Conv2D"),
        makeNode("Add", ["c", "x"], ["s"], "model/add/add"),
        makeNode("Relu", ["s"], ["logits"], "model/re_lu/Relu"),
      ],
      [weight("model/conv2d/Conv2D/ReadVariableOp:0", [2, 2, 3, 3])],
    );
    expect(locateSites(keras).map((s) => s.name)).toEqual(["conv2d", "re_lu"]);
  });

  it("locateSites(a transformer block as torch.onnx writes it: two residual Adds, no activation after either) names the block output blocks.0 and the first Add blocks.0.add", () => {
    const g = graph(
      [
        makeNode("MatMul", ["input", "onnx::MatMul_0"], ["x"], "/embed/MatMul"),
        makeNode("MatMul", ["x", "onnx::MatMul_1"], ["p"], "/blocks/blocks.0/attn/proj/MatMul"),
        makeNode("Add", ["x", "p"], ["h"], "/blocks/blocks.0/Add"),
        makeNode("MatMul", ["h", "onnx::MatMul_2"], ["f"], "/blocks/blocks.0/mlp/fc/MatMul"),
        makeNode("Add", ["h", "f"], ["o"], "/blocks/blocks.0/Add_1"),
        makeNode("MatMul", ["o", "onnx::MatMul_3"], ["logits"], "/head/MatMul"),
      ],
      [weight("onnx::MatMul_0", [4, 4]), weight("onnx::MatMul_1", [4, 4]), weight("onnx::MatMul_2", [4, 4]), weight("onnx::MatMul_3", [4, 3])],
    );
    g.input = [{ name: "input" }];
    expect(locateSites(g).map((s) => [s.name, s.op, s.node])).toEqual([
      ["embed", "MatMul", "/embed/MatMul"],
      ["blocks.0.attn.proj", "MatMul", "/blocks/blocks.0/attn/proj/MatMul"],
      ["blocks.0.add", "Add", "/blocks/blocks.0/Add"],
      ["blocks.0.mlp.fc", "MatMul", "/blocks/blocks.0/mlp/fc/MatMul"],
      ["blocks.0", "Add", "/blocks/blocks.0/Add_1"],
      ["head", "MatMul", "/head/MatMul"],
    ]);
  });

  // Trial 84: a batch norm folded into Mul + Add, or a Dropout, between a layer and its ReLU made the layer's
  // pre-activation output the site `conv1` (ablated there, before the batch norm and the ReLU) and the ReLU a site
  // `relu1` of its own.
  it("locateSites: a layer followed by Mul + Add by constants (a folded batch norm), by Dropout, or by Transpose then Mul + Add, before its ReLU is one site, the ReLU's, named after the layer", () => {
    const relu = (scope: string, input: string, output: string) => makeNode("Relu", [input], [output], `/${scope}/Relu`);
    const g = graph(
      [
        makeNode("Conv", ["x", "conv1.weight"], ["c1"], "/conv1/Conv"),
        makeNode("Mul", ["c1", "bn1.scale"], ["m1"], "/bn1/Mul"),
        makeNode("Add", ["bn1.shift", "m1"], ["a1"], "/bn1/Add"),
        relu("relu1", "a1", "r1"),
        makeNode("Conv", ["r1", "conv2.weight"], ["c2"], "/conv2/Conv"),
        makeNode("Transpose", ["c2"], ["t2"], "/conv2/Transpose", { perm: [0, 2, 3, 1] }),
        makeNode("Mul", ["t2", "bn2.scale"], ["m2"], "/bn2/Mul"),
        makeNode("Add", ["m2", "bn2.shift"], ["a2"], "/bn2/Add"),
        relu("relu2", "a2", "r2"),
        makeNode("Flatten", ["r2"], ["f"], "/flatten/Flatten"),
        makeNode("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], "/fc1/Gemm"),
        makeNode("Dropout", ["g1"], ["d1"], "/drop1/Dropout"),
        relu("act1", "d1", "r3"),
        makeNode("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["logits"], "/fc2/Gemm"),
      ],
      [weight("conv1.weight", [4, 1, 3, 3]), weight("bn1.scale", [1, 4, 1, 1]), weight("bn1.shift", [1, 4, 1, 1]), weight("conv2.weight", [4, 4, 3, 3]), weight("bn2.scale", [4]), weight("bn2.shift", [4]), weight("fc1.weight", [8, 16]), weight("fc1.bias", [8]), weight("fc2.weight", [3, 8]), weight("fc2.bias", [3])],
    );
    expect(locateSites(g).map((s) => [s.name, s.op, s.tensor, s.layer])).toEqual([
      ["conv1", "Relu", "r1", "/conv1/Conv"],
      ["conv2", "Relu", "r2", "/conv2/Conv"],
      ["fc1", "Relu", "r3", "/fc1/Gemm"],
      ["fc2", "Gemm", "logits", "/fc2/Gemm"],
    ]);
  });

  it("locateSites: an Add of two computed tensors (a residual join) still ends a layer, and a Mul of two computed tensors is no scale", () => {
    const g = graph(
      [
        makeNode("Gemm", ["x", "fc1.weight"], ["g1"], "/fc1/Gemm"),
        makeNode("Relu", ["g1"], ["r1"], "/fc1/Relu"),
        makeNode("Gemm", ["r1", "fc2.weight"], ["g2"], "/fc2/Gemm"),
        makeNode("Add", ["g2", "r1"], ["sum"], "/Add"),
        makeNode("Relu", ["sum"], ["r2"], "/Relu"),
        makeNode("Gemm", ["r2", "fc3.weight"], ["g3"], "/fc3/Gemm"),
        makeNode("Mul", ["g3", "r2"], ["gated"], "/Mul"),
        makeNode("Relu", ["gated"], ["r3"], "/gate/Relu"),
        makeNode("Gemm", ["r3", "fc4.weight"], ["logits"], "/fc4/Gemm"),
      ],
      [weight("fc1.weight", [4, 4]), weight("fc2.weight", [4, 4]), weight("fc3.weight", [4, 4]), weight("fc4.weight", [3, 4])],
    );
    expect(locateSites(g).map((s) => [s.name, s.op, s.layer])).toEqual([
      ["fc1", "Relu", "/fc1/Gemm"],
      ["fc2", "Gemm", "/fc2/Gemm"],
      ["relu4", "Relu", null],
      ["fc3", "Gemm", "/fc3/Gemm"],
      ["gate", "Relu", null],
      ["fc4", "Gemm", "/fc4/Gemm"],
    ]);
  });

  it("scopeName(name, op) reads module paths and Keras layers; op-type names carry none", () => {
    expect(scopeName("/fc1/Gemm", "Gemm")).toBe("fc1");
    expect(scopeName("/features/features.0/Conv", "Conv")).toBe("features.0");
    expect(scopeName("/layer1/layer1.0/layer1.0.relu/Relu", "Relu")).toBe("layer1.0.relu");
    expect(scopeName("StatefulPartitionedCall/sequential/conv2d_1/Conv2D", "Conv")).toBe("conv2d_1");
    expect(scopeName("Gemm_5", "Gemm")).toBeNull();
    expect(scopeName("/Relu", "Relu")).toBeNull();
    expect(scopeName("", "Relu")).toBeNull();
  });
});

describe("openModel(torch.onnx 1.13 export with scoped names)", () => {
  it("openModel(resnet_block.onnx) names every site by its PyTorch module path and computes PyTorch's logits", async () => {
    const fixture = (name: string) => new URL(`../fixtures/torch-names/${name}`, import.meta.url);
    const reference = JSON.parse(readFileSync(fixture("resnet_block.json"), "utf8")) as { inputs: number[]; logits: number[]; modules: string[] };
    const model = await openModel(readFileSync(fixture("resnet_block.onnx")), { name: "resnet_block.onnx" });
    try {
      const names = model.sites.map((s) => s.name);
      expect(names).toEqual(["stem.0", "layer1.0.conv1", "layer1.0.downsample.0", "layer1.0", "head.1", "head.3"]);
      for (const name of names) expect(reference.modules).toContain(name);
      const session = await getSession(model, "plain", () => model.proto);
      const out = await session.run({ [model.inputName]: new OrtTensor("float32", Float32Array.from(reference.inputs), [4, 1, 8, 8]) });
      const logits = out[model.outputName].data as Float32Array;
      reference.logits.forEach((v, i) => expect(Math.abs(logits[i] - v)).toBeLessThanOrEqual(1e-5));
    } finally {
      await closeModel(model);
    }
  });
});
