/**
 * foldConstants against onnxruntime's own kernels: a graph of constant-only expressions (one per op family), each
 * multiplied by a graph input s = 1 so it reaches an output, runs through onnxruntime unfolded and folded; the
 * outputs must agree bit for bit. A few values are also checked by hand (float16 rounding, int8 dequantization), and
 * the pads torch.onnx computes for F.pad (ConstantOfShape, a Slice with step −1 to INT64_MIN + 1) fold to its own.
 */
import { describe, expect, it } from "vitest";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { foldConstants } from "../../src/onnx/fold.js";
import { normalizeModel } from "../../src/onnx/normalize.js";
import { cloneModel, DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx, type ModelProto, type NodeProto, type TensorProto } from "../../src/onnx/proto.js";
import { floatToHalf, halfToFloat, readConst, writeConst } from "../../src/onnx/tensorData.js";

const f32 = (name: string, dims: number[], values: number[]) => makeTensor(name, dims, Float32Array.from(values));
const i64 = (name: string, values: number[]) => makeTensor(name, [values.length], BigInt64Array.from(values.map(BigInt)));
const typed = (name: string, type: number, dims: number[], values: number[]) => writeConst(name, { type, dims, values: Float64Array.from(values) });

/** A ConstantOfShape node with its `value` attribute (makeNode writes numbers and strings only). */
function withValue(node: NodeProto, value: TensorProto): NodeProto {
  node.attribute!.push(onnx.AttributeProto.create({ name: "value", type: onnx.AttributeProto.AttributeType.TENSOR, t: value }));
  return node;
}

function constantModel(): { model: ModelProto; outputs: string[] } {
  const w = Array.from({ length: 24 }, (_, i) => (i - 11.3) / 7);
  const initializers: TensorProto[] = [
    f32("W", [2, 3, 4], w),
    i64("shape", [4, -1]),
    typed("Wh", DataType.FLOAT16, [5], [0.1, 65504, 2 ** -20, -2.5, 1 / 3]),
    f32("rounding", [6], [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 70000, -1e-8, 0.1]),
    typed("q", DataType.INT8, [3, 4], [-128, -1, 0, 1, 5, 17, 127, -60, 3, 3, -3, 100]),
    f32("qscale", [3], [0.5, 0.013, 2]),
    typed("qzero", DataType.INT8, [3], [0, -3, 7]),
    typed("u", DataType.UINT8, [4], [0, 128, 200, 255]),
    f32("uscale", [], [0.0078125]),
    typed("uzero", DataType.UINT8, [], [128]),
    i64("axes0", [0]),
    f32("A", [2, 3], [1, 2, 3, 4, 5, 6]),
    f32("B", [1, 3], [-1, 0.5, 3]),
    f32("col", [2, 1], [3, -0.25]),
    f32("negatives", [4], [-2.7, -0.5, 2.7, 1e9]),
    f32("zeros", [2], [0, 1]),
    // A Slice's "to the end" as exporters write it: INT64_MIN + 1 and INT64_MAX, which no float64 holds exactly.
    makeTensor("sliceStarts", [2], BigInt64Array.of(-1n, 1n)),
    makeTensor("sliceEnds", [2], BigInt64Array.of(-9223372036854775807n, 9223372036854775807n)),
    i64("sliceAxes", [0, 2]),
    i64("sliceSteps", [-1, 2]),
    i64("dims23", [2, 3]),
    i64("four", [4]),
    i64("channelPads", [0, 8]),
    i64("pairs", [-1, 2]),
    i64("flat", [-1]),
    i64("zero1", [0]),
    makeTensor("reverseEnd", [1], BigInt64Array.of(-9223372036854775807n)),
    i64("minusOne", [-1]),
  ];
  const expressions: Array<[NodeProto[], string]> = [
    [[makeNode("Reshape", ["W", "shape"], ["e1"], "r")], "e1"],
    [[makeNode("Transpose", ["W"], ["e2"], "t", { perm: [2, 0, 1] })], "e2"],
    [[makeNode("Cast", ["Wh"], ["e3"], "c", { to: DataType.FLOAT })], "e3"],
    [[makeNode("Cast", ["rounding"], ["h"], "c16", { to: DataType.FLOAT16 }), makeNode("Cast", ["h"], ["e4"], "c32", { to: DataType.FLOAT })], "e4"],
    [[makeNode("DequantizeLinear", ["q", "qscale", "qzero"], ["e5"], "dq", { axis: 0 })], "e5"],
    [[makeNode("DequantizeLinear", ["u", "uscale", "uzero"], ["e6"], "dqu")], "e6"],
    [[makeNode("Unsqueeze", ["W", "axes0"], ["un"], "un"), makeNode("Squeeze", ["un", "axes0"], ["e7"], "sq")], "e7"],
    [
      [
        makeNode("Concat", ["A", "B"], ["cat"], "cat", { axis: 0 }),
        makeNode("Div", ["cat", "B"], ["div"], "div"),
        makeNode("Sub", ["div", "B"], ["sub"], "sub"),
        makeNode("Add", ["sub", "qscale"], ["add"], "add"),
        makeNode("Neg", ["add"], ["e8"], "neg"),
      ],
      "e8",
    ],
    [[makeNode("Flatten", ["W"], ["e9"], "fl", { axis: 2 })], "e9"],
    [[makeNode("Cast", ["negatives"], ["int"], "ci", { to: DataType.INT32 }), makeNode("Cast", ["int"], ["e10"], "cf", { to: DataType.FLOAT })], "e10"],
    [[makeNode("Identity", ["col"], ["id"], "id"), makeNode("Mul", ["id", "B"], ["e11"], "mul")], "e11"],
    [[makeNode("Div", ["zeros", "zeros"], ["e12"], "div0")], "e12"],
    [[makeNode("Slice", ["W", "sliceStarts", "sliceEnds", "sliceAxes", "sliceSteps"], ["e13"], "slice")], "e13"],
    [[withValue(makeNode("ConstantOfShape", ["dims23"], ["e14"], "cos"), f32("v", [1], [1.5]))], "e14"],
    [
      // torch.onnx's F.pad(x, (0, 0, 0, 0, 8, 8)) pads, computed from constants: the CIFAR ResNets' option A.
      [
        withValue(makeNode("ConstantOfShape", ["four"], ["padZeros"], "padZeros"), makeTensor("v64", [1], BigInt64Array.of(0n))),
        makeNode("Concat", ["channelPads", "padZeros"], ["padCat"], "padCat", { axis: 0 }),
        makeNode("Reshape", ["padCat", "pairs"], ["padPairs"], "padPairs"),
        makeNode("Slice", ["padPairs", "minusOne", "reverseEnd", "zero1", "minusOne"], ["padReversed"], "padReversed"),
        makeNode("Transpose", ["padReversed"], ["padT"], "padT", { perm: [1, 0] }),
        makeNode("Reshape", ["padT", "flat"], ["padFlat"], "padFlat"),
        makeNode("Cast", ["padFlat"], ["e15"], "padCast", { to: DataType.FLOAT }),
      ],
      "e15",
    ],
  ];
  const nodes = expressions.flatMap(([n, out]) => [...n, makeNode("Mul", [out, "s"], [`y_${out}`], `out_${out}`)]);
  const outputs = expressions.map(([, out]) => `y_${out}`);
  const graph = onnx.GraphProto.create({
    name: "constants",
    node: nodes,
    initializer: initializers,
    input: [makeValueInfo("s", DataType.FLOAT, [1])],
    output: outputs.map((o) => makeValueInfo(o, DataType.FLOAT, null)),
  });
  return { model: onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph }), outputs };
}

async function run(model: ModelProto, outputs: string[]): Promise<Float32Array[]> {
  const session = await createSession(encodeModel(model), 1);
  try {
    const result = await session.run({ s: new OrtTensor("float32", Float32Array.of(1), [1]) });
    return outputs.map((o) => result[o].data as Float32Array);
  } finally {
    await session.release();
  }
}

describe("foldConstants", () => {
  it("foldConstants(graph) folds every constant-only node and its values equal onnxruntime's bit for bit", async () => {
    const { model, outputs } = constantModel();
    const folded = cloneModel(model);
    const count = foldConstants(folded.graph!);
    expect(count).toBe(29);
    expect(folded.graph!.node!.map((n) => n.opType)).toEqual(outputs.map(() => "Mul"));
    // Inputs read only by folded nodes are gone; the folded values are initializers.
    expect(folded.graph!.initializer!.map((t) => t.name)).toEqual(["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11", "e12", "e13", "e14", "e15"]);
    const expected = await run(model, outputs);
    const got = await run(folded, outputs);
    got.forEach((values, i) => expect(Array.from(values), outputs[i]).toEqual(Array.from(expected[i])));
  });

  it("foldConstants values by hand: float16 rounding to nearest even, int8 per-axis dequantization, truncating Cast", () => {
    const { model } = constantModel();
    foldConstants(model.graph!);
    const value = (name: string) => Array.from(readConst(model.graph!.initializer!.find((t) => t.name === name)!)!.values);
    // 1+2^-11 is halfway between float16 neighbours 1 and 1+2^-10: ties to even (1); 1+3·2^-11 rounds up to 1+2^-9.
    // 2049 is halfway between 2048 and 2050: 2048. 70000 overflows to Infinity; −1e-8 underflows to −0.
    expect(value("e4").slice(0, 5)).toEqual([1, 1 + 2 ** -9, 2048, Infinity, -0]);
    expect(value("e3")[2]).toBe(2 ** -20);
    // (q − zero[row]) · scale[row], rounded to float32.
    expect(value("e5").slice(0, 8)).toEqual([-64, -0.5, 0, 0.5, Math.fround(8 * 0.013), Math.fround(20 * Math.fround(0.013)), Math.fround(130 * Math.fround(0.013)), Math.fround(-57 * Math.fround(0.013))]);
    expect(value("e10")).toEqual([-2, 0, 2, 1e9]);
    expect([halfToFloat(floatToHalf(0.1)), halfToFloat(0x3c00)]).toEqual([0.0999755859375, 1]);
  });
});

describe("normalizeModel", () => {
  it("normalizeModel(float16 graph casting a float32 constant to float16) keeps the float16 rounding and computes in float32", () => {
    const graph = onnx.GraphProto.create({
      name: "mixed",
      node: [makeNode("Cast", ["W"], ["W16"], "cast", { to: DataType.FLOAT16 }), makeNode("Mul", ["x", "W16"], ["y"], "mul")],
      initializer: [f32("W", [3], [1 + 2 ** -11, 0.1, 3])],
      input: [makeValueInfo("x", DataType.FLOAT16, ["batch", 3])],
      output: [makeValueInfo("y", DataType.FLOAT16, ["batch", 3])],
    });
    const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph });
    expect(normalizeModel(model, { dir: null, name: "mixed.onnx" })).toEqual({ externalTensors: 0, externalFiles: [], float16: true, foldedNodes: 1, trainingModeNodes: 0, fixedBatch: null, leftOutSites: [] });
    const w = model.graph!.initializer!.find((t) => t.name === "W16")!;
    expect([w.dataType, Array.from(readConst(w)!.values)]).toEqual([DataType.FLOAT, [1, 0.0999755859375, 3]]);
    expect([model.graph!.input![0], model.graph!.output![0]].map((v) => v.type!.tensorType!.elemType)).toEqual([DataType.FLOAT, DataType.FLOAT]);
  });
});
