import { describe, expect, it } from "vitest";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { compileFloat64, FLOAT64_OPS } from "../../src/onnx/float64/evaluate64.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx, type ModelProto, type NodeProto } from "../../src/onnx/proto.js";
import { random, randomArray } from "../helpers.js";

interface Case {
  name: string;
  nodes: NodeProto[];
  /** Graph inputs (random, fed to both) and initializers (random constants), name → shape. */
  inputs: Record<string, number[]>;
  constants?: Record<string, number[]>;
  /** Integer constants (shapes), name → values. */
  ints?: Record<string, number[]>;
  positive?: boolean;
  /** Float scalar constants, name → value. */
  scalars?: Record<string, number>;
  /** The default domain's opset (default 13). */
  opset?: number;
}

function model(c: Case, rand: () => number): { proto: ModelProto; feeds: Record<string, Float32Array> } {
  const feeds = Object.fromEntries(Object.entries(c.inputs).map(([name, dims]) => [name, randomArray(dims.reduce((a, b) => a * b, 1), rand, 2)]));
  if (c.positive) for (const v of Object.values(feeds)) for (let i = 0; i < v.length; i++) v[i] = Math.abs(v[i]) + 0.5;
  const initializer = [
    ...Object.entries(c.constants ?? {}).map(([name, dims]) => {
      const values = randomArray(dims.reduce((a, b) => a * b, 1), rand, 1);
      if (name.startsWith("var")) for (let i = 0; i < values.length; i++) values[i] = Math.abs(values[i]) + 0.1;
      return makeTensor(name, dims, values);
    }),
    ...Object.entries(c.scalars ?? {}).map(([name, value]) => makeTensor(name, [], Float32Array.of(value))),
    ...Object.entries(c.ints ?? {}).map(([name, values]) => makeTensor(name, [values.length], BigInt64Array.from(values.map(BigInt)))),
  ];
  const graph = onnx.GraphProto.create({
    name: c.name,
    node: c.nodes,
    input: Object.entries(c.inputs).map(([name, dims]) => makeValueInfo(name, DataType.FLOAT, dims)),
    output: [makeValueInfo("y", DataType.FLOAT, null)],
    initializer,
  });
  const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: c.opset ?? 13 }], graph });
  return { proto, feeds };
}

const window = { kernel_shape: [3, 3] };
const CASES: Case[] = [
  // Split's three forms (sizes as an input, as an attribute, opset 18's num_outputs), the parts recombined unequally.
  { name: "Split sizes input (opset 13)", nodes: [makeNode("Split", ["x", "s"], ["a", "b", "c"], "s", { axis: 1 }), makeNode("Mul", ["a", "c"], ["m"], "m"), makeNode("Add", ["m", "b"], ["y"], "y")], inputs: { x: [2, 7] }, ints: { s: [3, 1, 3] } },
  { name: "Split sizes attribute (opset 11)", nodes: [makeNode("Split", ["x"], ["a", "b", "c"], "s", { axis: -1, split: [3, 1, 3] }), makeNode("Mul", ["a", "c"], ["m"], "m"), makeNode("Sub", ["m", "b"], ["y"], "y")], inputs: { x: [2, 7] }, opset: 11 },
  { name: "Split num_outputs (opset 18)", nodes: [makeNode("Split", ["x"], ["a", "b", "c"], "s", { axis: 0, num_outputs: 3 }), makeNode("Mul", ["a", "b"], ["m"], "m"), makeNode("Sub", ["m", "c"], ["y"], "y")], inputs: { x: [6, 4] }, opset: 18 },
  { name: "Conv groups strides pads dilations", nodes: [makeNode("Conv", ["x", "w", "b"], ["y"], "c", { group: 2, strides: [2, 1], pads: [1, 0, 1, 2], dilations: [1, 2] })], inputs: { x: [2, 4, 7, 6] }, constants: { w: [6, 2, 3, 3], b: [6] } },
  { name: "Conv SAME_UPPER stride 2, no bias", nodes: [makeNode("Conv", ["x", "w"], ["y"], "c", { auto_pad: "SAME_UPPER", strides: [2, 2] })], inputs: { x: [1, 3, 8, 7] }, constants: { w: [4, 3, 3, 3] } },
  { name: "Conv depthwise 1x1", nodes: [makeNode("Conv", ["x", "w", "b"], ["y"], "c", { group: 3 })], inputs: { x: [2, 3, 5, 5] }, constants: { w: [3, 1, 1, 1], b: [3] } },
  { name: "Gemm transB alpha beta", nodes: [makeNode("Gemm", ["x", "w", "b"], ["y"], "g", { transB: 1, alpha: 0.5, beta: 2 })], inputs: { x: [3, 5] }, constants: { w: [4, 5], b: [4] } },
  { name: "MatMul batched", nodes: [makeNode("MatMul", ["x", "w"], ["y"], "m")], inputs: { x: [2, 3, 5] }, constants: { w: [5, 4] } },
  ...["Add", "Sub", "Mul"].map((op) => ({ name: `${op} broadcast`, nodes: [makeNode(op, ["x", "c"], ["y"], op)], inputs: { x: [2, 3, 4, 5] }, constants: { c: [3, 1, 1] } })),
  { name: "Div broadcast", nodes: [makeNode("Div", ["c", "x"], ["y"], "d")], inputs: { x: [2, 3, 1, 5] }, constants: { c: [4, 1] }, positive: true },
  ...["Relu", "Sigmoid", "Tanh"].map((op) => ({ name: op, nodes: [makeNode(op, ["x"], ["y"], op)], inputs: { x: [2, 3, 4] } })),
  { name: "LeakyRelu", nodes: [makeNode("LeakyRelu", ["x"], ["y"], "l", { alpha: 0.2 })], inputs: { x: [2, 3, 4] } },
  // The activations PyTorch writes as Erf, Gelu (opset 20), HardSwish, Mish (opset 18) and Selu.
  { name: "Erf", nodes: [makeNode("Erf", ["x"], ["y"], "e")], inputs: { x: [4, 25] } },
  { name: "GELU as torch.onnx writes it before opset 20 (Div, Erf, Add, Mul, Mul)", nodes: [makeNode("Div", ["x", "root2"], ["d"], "d"), makeNode("Erf", ["d"], ["e"], "e"), makeNode("Add", ["e", "one"], ["a"], "a"), makeNode("Mul", ["x", "a"], ["m"], "m"), makeNode("Mul", ["m", "half"], ["y"], "h")], inputs: { x: [4, 25] }, scalars: { root2: Math.SQRT2, one: 1, half: 0.5 } },
  ...["none", "tanh"].map((approximate) => ({ name: `Gelu approximate=${approximate}`, nodes: [makeNode("Gelu", ["x"], ["y"], "g", { approximate })], inputs: { x: [4, 25] }, opset: 20 })),
  { name: "HardSwish", nodes: [makeNode("HardSwish", ["x"], ["y"], "h")], inputs: { x: [4, 25] }, opset: 14 },
  { name: "Mish", nodes: [makeNode("Mish", ["x"], ["y"], "m")], inputs: { x: [4, 25] }, opset: 18 },
  { name: "Selu", nodes: [makeNode("Selu", ["x"], ["y"], "s")], inputs: { x: [4, 25] } },
  // nn.PReLU exported: a slope per channel ([C, 1, 1] beside a conv output) or one slope ([1]).
  { name: "PRelu per channel", nodes: [makeNode("PRelu", ["x", "slope"], ["y"], "p")], inputs: { x: [2, 3, 4, 5] }, constants: { slope: [3, 1, 1] } },
  { name: "PRelu one slope", nodes: [makeNode("PRelu", ["x", "slope"], ["y"], "p")], inputs: { x: [4, 25] }, constants: { slope: [1] } },
  { name: "Celu alpha 2", nodes: [makeNode("Celu", ["x"], ["y"], "c", { alpha: 2 })], inputs: { x: [4, 25] }, opset: 12 },
  { name: "ThresholdedRelu alpha 0.3", nodes: [makeNode("ThresholdedRelu", ["x"], ["y"], "t", { alpha: 0.3 })], inputs: { x: [4, 25] } },
  ...["Floor", "Ceil", "Sign"].map((op) => ({ name: op, nodes: [makeNode(op, ["x"], ["y"], op)], inputs: { x: [4, 25] } })),
  { name: "Reciprocal", nodes: [makeNode("Reciprocal", ["x"], ["y"], "r")], inputs: { x: [4, 25] }, positive: true },
  { name: "Sum of three, broadcast", nodes: [makeNode("Sum", ["x", "c", "z"], ["y"], "s")], inputs: { x: [2, 3, 4], z: [2, 1, 4] }, constants: { c: [4] } },
  { name: "Mean of two", nodes: [makeNode("Mean", ["x", "z"], ["y"], "m")], inputs: { x: [2, 3, 4], z: [2, 3, 4] } },
  { name: "GlobalMaxPool", nodes: [makeNode("GlobalMaxPool", ["x"], ["y"], "p")], inputs: { x: [2, 3, 5, 4] } },
  { name: "Pad constant 0.5 (opset 13: pads and value as inputs), a crop on one side", nodes: [makeNode("Pad", ["x", "pads", "value"], ["y"], "p")], inputs: { x: [2, 3, 4, 5] }, ints: { pads: [0, 0, 1, 2, 0, 1, -1, 3] }, scalars: { value: 0.5 } },
  ...["reflect", "edge"].map((mode) => ({ name: `Pad ${mode}`, nodes: [makeNode("Pad", ["x", "pads"], ["y"], "p", { mode })], inputs: { x: [1, 2, 4, 5] }, ints: { pads: [0, 0, 2, 3, 0, 0, 3, 1] } })),
  { name: "Pad (opset 10: pads and value as attributes)", nodes: [makeNode("Pad", ["x"], ["y"], "p", { pads: [0, 0, 1, 1, 0, 0, 2, 0], value: -1.5 })], inputs: { x: [1, 2, 3, 3] }, opset: 10 },
  // A ViT's class token broadcast to the batch: cls [1, 1, D] expanded to [N, 1, D] by a shape built from Shape(x).
  {
    name: "Expand of a class token to the batch, the shape from ConstantOfShape and Shape",
    nodes: [
      makeNode("Shape", ["x"], ["shape"], "s", { end: 1 }),
      // value: an int64 1 (ConstantOfShape's default is a float 0).
      Object.assign(makeNode("ConstantOfShape", ["two"], ["ones"], "c"), { attribute: [onnx.AttributeProto.create({ name: "value", type: onnx.AttributeProto.AttributeType.TENSOR, t: makeTensor("one64", [1], BigInt64Array.of(1n)) })] }),
      makeNode("Concat", ["shape", "ones"], ["target"], "t", { axis: 0 }),
      makeNode("Expand", ["cls", "target"], ["expanded"], "e"),
      makeNode("Concat", ["expanded", "x"], ["y"], "j", { axis: 1 }),
    ],
    inputs: { x: [3, 4, 5] },
    constants: { cls: [1, 1, 5] },
    ints: { two: [2] },
    opset: 15,
  },
  { name: "InstanceNormalization (GroupNorm's and InstanceNorm's export)", nodes: [makeNode("InstanceNormalization", ["x", "scale", "bias"], ["y"], "in", { epsilon: 1e-5 })], inputs: { x: [2, 3, 4, 5] }, constants: { scale: [3], bias: [3] } },
  { name: "LayerNormalization over the last axis (ConvNeXt's channels-last norm)", nodes: [makeNode("LayerNormalization", ["x", "scale", "bias"], ["y"], "ln", { axis: -1, epsilon: 1e-6 })], inputs: { x: [2, 3, 4, 6] }, constants: { scale: [6], bias: [6] }, opset: 17 },
  { name: "LayerNormalization over the last two axes, no bias", nodes: [makeNode("LayerNormalization", ["x", "scale"], ["y"], "ln", { axis: 2 })], inputs: { x: [2, 3, 4, 5] }, constants: { scale: [4, 5] }, opset: 17 },
  { name: "MaxPool pads ceil", nodes: [makeNode("MaxPool", ["x"], ["y"], "p", { ...window, strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 })], inputs: { x: [2, 3, 8, 7] } },
  { name: "MaxPool 2x2", nodes: [makeNode("MaxPool", ["x"], ["y"], "p", { kernel_shape: [2, 2], strides: [2, 2] })], inputs: { x: [2, 3, 8, 8] } },
  { name: "AveragePool count_include_pad", nodes: [makeNode("AveragePool", ["x"], ["y"], "p", { ...window, strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 })], inputs: { x: [1, 2, 7, 7] } },
  { name: "AveragePool excluding pad", nodes: [makeNode("AveragePool", ["x"], ["y"], "p", { ...window, strides: [2, 2], pads: [1, 1, 1, 1] })], inputs: { x: [1, 2, 7, 7] } },
  { name: "GlobalAveragePool", nodes: [makeNode("GlobalAveragePool", ["x"], ["y"], "p")], inputs: { x: [2, 3, 5, 4] } },
  { name: "Flatten + Gemm", nodes: [makeNode("Flatten", ["x"], ["f"], "f"), makeNode("Gemm", ["f", "w"], ["y"], "g", { transB: 1 })], inputs: { x: [2, 3, 2, 2] }, constants: { w: [5, 12] } },
  { name: "Reshape 0,-1", nodes: [makeNode("Reshape", ["x", "s"], ["r"], "r"), makeNode("Relu", ["r"], ["y"], "a")], inputs: { x: [2, 3, 4] }, ints: { s: [0, -1] } },
  { name: "BatchNormalization", nodes: [makeNode("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], "bn", { epsilon: 1e-3 })], inputs: { x: [2, 3, 4, 4] }, constants: { scale: [3], bias: [3], mean: [3], var: [3] } },
  { name: "Concat axis 1", nodes: [makeNode("Concat", ["x", "z"], ["y"], "c", { axis: 1 })], inputs: { x: [2, 3, 4], z: [2, 2, 4] } },
  { name: "Softmax", nodes: [makeNode("Softmax", ["x"], ["y"], "s", { axis: -1 })], inputs: { x: [3, 10] } },
  { name: "LogSoftmax axis 1", nodes: [makeNode("LogSoftmax", ["x"], ["y"], "s", { axis: 1 })], inputs: { x: [2, 4, 3] } },
  // x.mean((2, 3)) as PyTorch exports it (a CNN's global average pool), and the other reductions.
  { name: "ReduceMean axes 2,3 keepdims 0 (opset 13: an attribute)", nodes: [makeNode("ReduceMean", ["x"], ["y"], "r", { axes: [2, 3], keepdims: 0 })], inputs: { x: [2, 3, 5, 4] } },
  { name: "ReduceMean axes input (opset 18), keepdims", nodes: [makeNode("ReduceMean", ["x", "axes"], ["y"], "r")], inputs: { x: [2, 3, 5, 4] }, ints: { axes: [-1, 1] }, opset: 18 },
  { name: "ReduceSum axes input, no axes: every axis", nodes: [makeNode("ReduceSum", ["x"], ["y"], "r", { keepdims: 0 })], inputs: { x: [2, 3, 4] } },
  { name: "ReduceSum axes input 1", nodes: [makeNode("ReduceSum", ["x", "axes"], ["y"], "r")], inputs: { x: [2, 3, 4] }, ints: { axes: [1] } },
  ...["ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare"].map((op) => ({ name: `${op} axis 1`, nodes: [makeNode(op, ["x"], ["y"], op, { axes: [1] })], inputs: { x: [2, 3, 4] } })),
  { name: "Transpose", nodes: [makeNode("Transpose", ["x"], ["y"], "t", { perm: [0, 2, 3, 1] })], inputs: { x: [2, 3, 4, 5] } },
  {
    name: "Shape/Gather/Unsqueeze/Concat/Reshape (PyTorch's dynamic flatten)",
    nodes: [
      makeNode("Shape", ["x"], ["shape"], "s"),
      makeNode("Gather", ["shape", "zero"], ["n"], "g", { axis: 0 }),
      makeNode("Unsqueeze", ["n", "axes"], ["n1"], "u"),
      makeNode("Concat", ["n1", "minus1"], ["target"], "c", { axis: 0 }),
      makeNode("Reshape", ["x", "target"], ["y"], "r"),
    ],
    inputs: { x: [2, 3, 2, 2] },
    ints: { axes: [0], minus1: [-1] },
  },
];

describe("compileFloat64(model).run(feeds) equals onnxruntime float32 op by op", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      // Gather needs a scalar index: made here, since the case table's ints are 1-D.
      const { proto, feeds } = model(c, random(CASES.indexOf(c) + 1));
      if (c.nodes.some((n) => n.opType === "Gather")) proto.graph!.initializer!.push(onnx.TensorProto.create({ name: "zero", dims: [], dataType: DataType.INT64, int64Data: [0] }));
      const session = await createSession(encodeModel(proto), 1);
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, v]) => [name, new OrtTensor("float32", v, c.inputs[name])]));
      const expected = (await session.run(ortFeeds, ["y"])).y;
      const compiled = compileFloat64(proto, ["y"]);
      expect(compiled.missing).toEqual([]);
      const got = compiled.graph!.run(Object.fromEntries(Object.entries(feeds).map(([name, v]) => [name, { dims: c.inputs[name], data: Float64Array.from(v) }]))).y;
      expect(got.dims).toEqual(expected.dims.map(Number));
      const want = expected.data as Float32Array;
      expect(got.data.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got.data[i] - want[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i])));
    });
  }
});

describe("compileFloat64 by hand", () => {
  it("Conv 2x2 of ones over 1..9 (stride 1, no pad) gives the window sums 12 16 24 28 (+ bias 0.5)", () => {
    const graph = onnx.GraphProto.create({
      node: [makeNode("Conv", ["x", "w", "b"], ["y"], "c")],
      input: [makeValueInfo("x", DataType.FLOAT, [1, 1, 3, 3])],
      output: [makeValueInfo("y", DataType.FLOAT, null)],
      initializer: [makeTensor("w", [1, 1, 2, 2], Float32Array.of(1, 1, 1, 1)), makeTensor("b", [1], Float32Array.of(0.5))],
    });
    const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph });
    const y = compileFloat64(proto, ["y"]).graph!.run({ x: { dims: [1, 1, 3, 3], data: Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9) } }).y;
    expect(y.dims).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([12.5, 16.5, 24.5, 28.5]);
  });

  it("computes in float64: 1 + 1e-12 survives a Conv and an Add that float32 would round away", () => {
    const graph = onnx.GraphProto.create({
      node: [makeNode("Conv", ["x", "w"], ["c"], "c"), makeNode("Sub", ["c", "one"], ["y"], "s")],
      input: [makeValueInfo("x", DataType.DOUBLE, [1, 1, 1, 1])],
      output: [makeValueInfo("y", DataType.DOUBLE, null)],
      initializer: [makeTensor("w", [1, 1, 1, 1], Float64Array.of(1)), makeTensor("one", [1], Float64Array.of(1))],
    });
    const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph });
    const y = compileFloat64(proto, ["y"]).graph!.run({ x: { dims: [1, 1, 1, 1], data: Float64Array.of(1 + 1e-12) } }).y;
    expect(y.data[0]).toBe(1 + 1e-12 - 1); // float64 arithmetic; float32 would give 0
    expect(y.data[0]).toBeGreaterThan(0);
  });

  it("lesion's site mask (Cast to bool, Mul, Where) zeroes a masked channel even where it holds NaN, as onnxruntime does", async () => {
    const graph = onnx.GraphProto.create({
      node: [
        makeNode("Cast", ["m"], ["keep"], "c", { to: DataType.BOOL }),
        makeNode("Mul", ["x", "m"], ["scaled"], "m"),
        makeNode("Where", ["keep", "scaled", "m"], ["y"], "w"),
      ],
      input: [makeValueInfo("x", DataType.FLOAT, [2, 3, 2, 2]), makeValueInfo("m", DataType.FLOAT, [2, 3, 1, 1])],
      output: [makeValueInfo("y", DataType.FLOAT, null)],
    });
    const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph });
    const x = randomArray(24, random(5), 2);
    x.fill(Number.NaN, 4, 8); // sample 0, channel 1
    const m = Float32Array.of(1, 0, 1, 1, 1, 0);
    const session = await createSession(encodeModel(proto), 1);
    const want = Array.from((await session.run({ x: new OrtTensor("float32", x, [2, 3, 2, 2]), m: new OrtTensor("float32", m, [2, 3, 1, 1]) }, ["y"])).y.data as Float32Array);
    const got = compileFloat64(proto, ["y"]).graph!.run({ x: { dims: [2, 3, 2, 2], data: Float64Array.from(x) }, m: { dims: [2, 3, 1, 1], data: Float64Array.from(m) } }).y;
    expect(Array.from(got.data.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    expect(Array.from(got.data, (v) => Math.fround(v))).toEqual(want);
  });

  it("names the ops it has no kernel for instead of a graph (and ignores nodes the outputs do not need)", () => {
    const graph = onnx.GraphProto.create({
      node: [makeNode("Softsign", ["x"], ["e"], "e"), makeNode("Relu", ["x"], ["y"], "r"), makeNode("Resize", ["x"], ["z"], "g")],
      input: [makeValueInfo("x", DataType.FLOAT, [1, 2])],
      output: [makeValueInfo("y", DataType.FLOAT, null), makeValueInfo("e", DataType.FLOAT, null)],
    });
    const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph });
    expect(compileFloat64(proto, ["y", "e"])).toEqual({ graph: null, missing: ["Softsign"] });
    expect(compileFloat64(proto, ["y"]).missing).toEqual([]);
    expect(FLOAT64_OPS).toContain("Conv");
  });
});
