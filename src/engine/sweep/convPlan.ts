/**
 * The delta path's reading of the graph around a site (issue #14 item 3): where zeroing a few channels of the site is a
 * delta on the first layer after it. Between the site and that layer only ops that act on each channel alone and map
 * a zero channel to a zero channel may stand (Relu, LeakyRelu, MaxPool, AveragePool, their Global forms, Identity,
 * Dropout, and Flatten before a Gemm/MatMul, which keeps a channel's values contiguous); each tensor on the way has
 * one consumer. Then the layer's input with channels U zeroed is its cached input with exactly those channels zeroed,
 * and the layer's output is the cached one minus U's contribution:
 * - Conv (group 1, constant weight W [out, in, k…]): pre − Conv(x[:, U], W[:, U]) (bias once, in pre);
 * - Gemm/MatMul after Flatten (constant B): pre − x[:, U's slices] · B[U's slices] (alpha folded into the slice).
 * BatchNormalization, Add (a residual join), Concat or a second consumer are not on that list: such a site stays on
 * the masked path (maskedSweep.ts), exact for any graph.
 */
import { indexGraph } from "../../onnx/graph.js";
import {
  attributeFloat,
  attributeInt,
  cloneModel,
  DataType,
  makeNode,
  makeTensor,
  makeValueInfo,
  onnx,
  tensorDims,
  tensorValues,
  type ModelProto,
  type NodeProto,
} from "../../onnx/proto.js";
import { cutTensors, suffixModel } from "../../onnx/surgery.js";
import type { Site } from "../model.js";

/** Ops between the site and the layer that keep channels apart and map a zero channel to zero. */
const CHANNEL_WISE = new Set(["Relu", "LeakyRelu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Identity", "Dropout"]);

/** Where a site's channels enter the next linear layer, and that layer's constant weight. */
export interface ConvDelta {
  /** "conv": a Conv reads the channels; "matmul": a Gemm/MatMul reads them flattened. */
  kind: "conv" | "matmul";
  /** The tensor the layer reads ([N, C, …] for a Conv, [N, C·P] for a Gemm/MatMul). */
  input: string;
  /** The layer's output: the pre-activation that the delta corrects. */
  output: string;
  /** The layer node. */
  node: NodeProto;
  /** The weight: Conv [out, C, k…]; matmul as [C·P, out] (B, or Bᵀ for transB), alpha applied. */
  weight: Float32Array;
  weightDims: number[];
}

/**
 * The first layer after `site` reached through channel-wise zero-preserving ops, or null where the graph does not
 * allow the delta (see the module comment). Reads the graph only; throws nothing.
 */
export function convDelta(proto: ModelProto, site: Site): ConvDelta | null {
  // Channels last (units on the last axis): the deltas below take the channel axis to be 1.
  if (site.unitAxis !== 1) return null;
  const graph = proto.graph!;
  // A delta cannot remove a NaN or infinite contribution; the masked graph forces ablated channels to exactly 0.
  if ((graph.initializer ?? []).some((t) => t.dataType === DataType.FLOAT && !(tensorValues(t) as Float32Array).every(Number.isFinite))) return null;
  const index = indexGraph(graph);
  const outputs = new Set(index.outputs);
  const constant = (name: string) => (graph.initializer ?? []).find((t) => t.name === name && t.dataType === DataType.FLOAT);
  let tensor = site.tensor;
  let flat = site.shape.length === 1;
  for (;;) {
    const consumers = index.consumers.get(tensor) ?? [];
    if (outputs.has(tensor) || consumers.length !== 1) return null;
    const node = consumers[0];
    const inputs = node.input ?? [];
    if (inputs[0] !== tensor || inputs.slice(1).includes(tensor)) return null;
    const op = node.opType ?? "";
    if (CHANNEL_WISE.has(op)) {
      const pooling = op.includes("Pool");
      // A pool's optional indices output, or a pool of flattened values (channels no longer on axis 1): refuse.
      if ((node.output ?? []).filter((o) => o).length !== 1 || (pooling && flat)) return null;
      tensor = node.output![0];
      continue;
    }
    if (op === "Flatten") {
      if (attributeInt(node, "axis", 1) !== 1) return null;
      flat = true;
      tensor = node.output![0];
      continue;
    }
    const weight = inputs[1] ? constant(inputs[1]) : undefined;
    if (!weight) return null;
    const dims = tensorDims(weight);
    const values = tensorValues(weight) as Float32Array;
    if (op === "Conv" && !flat) {
      if (attributeInt(node, "group", 1) !== 1 || dims[1] !== site.units) return null;
      return { kind: "conv", input: tensor, output: node.output![0], node, weight: values, weightDims: dims };
    }
    if ((op === "Gemm" || op === "MatMul") && flat && dims.length === 2) {
      if (op === "Gemm" && attributeInt(node, "transA", 0) !== 0) return null;
      const transposed = op === "Gemm" && attributeInt(node, "transB", 0) === 1;
      const alpha = op === "Gemm" ? attributeFloat(node, "alpha", 1) : 1;
      const [rows, cols] = transposed ? [dims[1], dims[0]] : dims;
      if (rows % site.units !== 0) return null;
      const b = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let o = 0; o < cols; o++) b[i * cols + o] = alpha * values[transposed ? o * rows + i : i * cols + o];
      return { kind: "matmul", input: tensor, output: node.output![0], node, weight: b, weightDims: [rows, cols] };
    }
    return null;
  }
}

/**
 * The delta graph: input `x` (the layer's input rows), output `delta`: per site channel u, u's contribution to the
 * layer's output (bias excluded), so zeroing units U subtracts Σ_{u∈U} of them. Laid out channel-major, [C, G, rows, S]
 * with the layer's output row = [G, S]: Conv G = out channels, S = output positions; matmul G = 1, S = outputs.
 * Conv: every channel's patches (a Conv of each channel alone with one-hot kernels, im2col), then per channel one
 * GEMM W[:, u] · patches over all rows and positions (a grouped Conv was ~3× slower here); matmul: x as [C, rows, P]
 * times B as [C, P, out].
 */
export function deltaGraph(proto: ModelProto, delta: ConvDelta, siteUnits: number, inputShape: readonly number[], outputShape: readonly number[]): ModelProto {
  // The model's opset and IR version, none of its nodes or weights.
  const copy = cloneModel(onnx.ModelProto.create({ irVersion: proto.irVersion, opsetImport: proto.opsetImport, graph: onnx.GraphProto.create({ name: "delta" }) }));
  const graph = copy.graph!;
  const ints = (...values: number[]) => BigInt64Array.from(values, (v) => BigInt(v));
  if (delta.kind === "conv") {
    const [out, channels, ...kernel] = delta.weightDims;
    const taps = kernel.reduce((a, b) => a * b, 1);
    const positions = outputShape.slice(1).reduce((a, b) => a * b, 1);
    const oneHot = new Float32Array(taps * taps);
    for (let t = 0; t < taps; t++) oneHot[t * taps + t] = 1;
    const byChannel = new Float32Array(channels * out * taps);
    for (let u = 0; u < channels; u++) for (let o = 0; o < out; o++) byChannel.set(delta.weight.subarray((o * channels + u) * taps, (o * channels + u + 1) * taps), (u * out + o) * taps);
    const patches = makeNode("Conv", ["x1", "lesion.delta.taps"], ["patches"], "lesion/conv/patches");
    patches.attribute = (delta.node.attribute ?? []).filter((a) => a.name !== "group");
    graph.node = [
      makeNode("Reshape", ["x", "lesion.delta.one"], ["x1"], "lesion/conv/channels"),
      patches,
      makeNode("Reshape", ["patches", "lesion.delta.rows"], ["p4"], "lesion/conv/rows"),
      makeNode("Transpose", ["p4"], ["pt"], "lesion/conv/transpose", { perm: [1, 2, 0, 3] }),
      makeNode("Reshape", ["pt", "lesion.delta.cols"], ["p3"], "lesion/conv/cols"),
      makeNode("MatMul", ["lesion.delta.w", "p3"], ["delta"], "lesion/conv/delta"),
    ];
    graph.initializer = [
      makeTensor("lesion.delta.one", [inputShape.length + 1], ints(-1, 1, ...inputShape.slice(1))),
      makeTensor("lesion.delta.taps", [taps, 1, ...kernel], oneHot),
      makeTensor("lesion.delta.rows", [4], ints(-1, channels, taps, positions)),
      makeTensor("lesion.delta.cols", [3], ints(channels, taps, -1)),
      makeTensor("lesion.delta.w", [channels, out, taps], byChannel),
    ];
  } else {
    const [rows, out] = delta.weightDims;
    const plane = rows / siteUnits;
    graph.node = [
      makeNode("Reshape", ["x", "lesion.delta.shape"], ["x3"], "lesion/conv/reshape"),
      makeNode("Transpose", ["x3"], ["xt"], "lesion/conv/transpose", { perm: [1, 0, 2] }),
      makeNode("MatMul", ["xt", "lesion.delta.w"], ["delta"], "lesion/conv/delta"),
    ];
    graph.initializer = [makeTensor("lesion.delta.shape", [3], ints(-1, siteUnits, plane)), makeTensor("lesion.delta.w", [siteUnits, plane, out], delta.weight)];
  }
  graph.input = [makeValueInfo("x", DataType.FLOAT, ["rows", ...inputShape])];
  graph.output = [makeValueInfo("delta", DataType.FLOAT, null)];
  graph.valueInfo = [];
  return copy;
}

/** What the graph after the layer reads: its output first, then untouched upstream tensors (a residual branch). */
export function deltaCut(proto: ModelProto, delta: ConvDelta): { inputs: string[]; shapeSources: string[] } {
  return cutTensors(proto, delta.output);
}

/** The suffix graph's input for the ablated channels' contribution, subtracted from the cached layer output. */
export const DELTA_INPUT = "lesion.conv.delta";
/** The fused suffix's inputs: the ablated channels of the layer's input, and their slice of its weight. */
export const FUSED_X = "lesion.conv.x";
export const FUSED_W = "lesion.conv.w";

/**
 * The graph from the layer's output on to the classifier output, fed the cached layer output (`${output}::in`), the
 * ablated channels' contribution (DELTA_INPUT, same shape) and the cut's other tensors; it starts with their
 * difference. Null when `shapes` lacks a fed tensor (not float). suffixModel's form with its mask nodes replaced by
 * one Sub. `fused` (a Conv layer): the contribution is computed inside, a Conv of FUSED_X ([rows, |U|, …], the
 * ablated channels) with FUSED_W ([out, |U|, k…], weightSlice), one condition per run.
 */
export function deltaSuffix(proto: ModelProto, delta: ConvDelta, shapes: ReadonlyMap<string, readonly number[]>, output: string, fused = false): ModelProto | null {
  const shape = shapes.get(delta.output);
  if (!shape) return null;
  const name = "lesion.conv.next";
  const suffix = suffixModel(proto, { name, tensor: delta.output, rank: shape.length + 1, units: shape[0] }, shapes, output);
  if (!suffix) return null;
  const graph = suffix.model.graph!;
  const masking = (n: NodeProto) => (n.name ?? "").startsWith(`lesion/mask/${name}/`);
  const at = graph.node!.findIndex(masking);
  graph.node = graph.node!.filter((n) => !masking(n));
  graph.node.splice(at, 0, makeNode("Sub", [`${delta.output}::in`, DELTA_INPUT], [delta.output], "lesion/conv/sub"));
  graph.input = graph.input!.filter((i) => !(i.name ?? "").endsWith(`.${name}`));
  if (fused && delta.kind === "conv") {
    const conv = makeNode("Conv", [FUSED_X, FUSED_W], [DELTA_INPUT], "lesion/conv/delta");
    conv.attribute = (delta.node.attribute ?? []).filter((a) => a.name !== "group");
    graph.node.splice(at, 0, conv);
    const x = makeValueInfo(FUSED_X, DataType.FLOAT, ["batch", "units", ...shapes.get(delta.input)!.slice(1)]);
    graph.input.splice(1, 0, x, makeValueInfo(FUSED_W, DataType.FLOAT, [delta.weightDims[0], "units", ...delta.weightDims.slice(2)]));
  } else graph.input.splice(1, 0, makeValueInfo(DELTA_INPUT, DataType.FLOAT, ["batch", ...shape]));
  return suffix.model;
}

/** The slice of a Conv layer's weight that units U contribute through: [out, |U|, k…] (FUSED_W). */
export function weightSlice(delta: ConvDelta, units: readonly number[]): Float32Array {
  const [out, channels, ...kernel] = delta.weightDims;
  const taps = kernel.reduce((a, b) => a * b, 1);
  const data = new Float32Array(out * units.length * taps);
  for (let o = 0; o < out; o++) {
    units.forEach((u, j) => data.set(delta.weight.subarray((o * channels + u) * taps, (o * channels + u + 1) * taps), (o * units.length + j) * taps));
  }
  return data;
}
