/**
 * The conv path's reading of the graph around a site (issue #14 item 3): where zeroing a few channels of the site is a
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
  makeValueInfo,
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
 * The slice of the layer's weight that units U contribute through, as the delta graph's `w` input: Conv [out, |U|,
 * k…]; matmul [|U|·P, out] (P = the layer's input width / site units).
 */
export function weightSlice(delta: ConvDelta, units: readonly number[], siteUnits: number): { data: Float32Array; dims: number[] } {
  if (delta.kind === "conv") {
    const [out, channels, ...kernel] = delta.weightDims;
    const taps = kernel.reduce((a, b) => a * b, 1);
    const data = new Float32Array(out * units.length * taps);
    for (let o = 0; o < out; o++) {
      units.forEach((u, j) => data.set(delta.weight.subarray((o * channels + u) * taps, (o * channels + u + 1) * taps), (o * units.length + j) * taps));
    }
    return { data, dims: [out, units.length, ...kernel] };
  }
  const [rows, cols] = delta.weightDims;
  const plane = rows / siteUnits;
  const data = new Float32Array(units.length * plane * cols);
  units.forEach((u, j) => data.set(delta.weight.subarray(u * plane * cols, (u + 1) * plane * cols), j * plane * cols));
  return { data, dims: [units.length * plane, cols] };
}

/**
 * The delta graph: inputs `pre` (the layer's cached output rows), `x` (the ablated channels of its input: [rows, |U|,
 * …] for a Conv, [rows, |U|·P] flattened) and `w` (weightSlice); output `out` = pre − layer(x; w) without bias.
 */
export function deltaGraph(proto: ModelProto, delta: ConvDelta, inputShape: readonly number[], outputShape: readonly number[]): ModelProto {
  const copy = cloneModel(proto);
  const graph = copy.graph!;
  let layer: NodeProto;
  if (delta.kind === "conv") {
    const kept = (delta.node.attribute ?? []).filter((a) => a.name !== "group");
    layer = makeNode("Conv", ["x", "w"], ["delta"], "lesion/conv/delta");
    layer.attribute = kept;
  } else layer = makeNode("MatMul", ["x", "w"], ["delta"], "lesion/conv/delta");
  graph.node = [layer, makeNode("Sub", ["pre", "delta"], ["out"], "lesion/conv/sub")];
  graph.initializer = [];
  const x = delta.kind === "conv" ? ["rows", "units", ...inputShape.slice(1)] : ["rows", "width"];
  const w = delta.kind === "conv" ? [delta.weightDims[0], "units", ...delta.weightDims.slice(2)] : ["width", delta.weightDims[1]];
  graph.input = [
    makeValueInfo("pre", DataType.FLOAT, ["rows", ...outputShape]),
    makeValueInfo("x", DataType.FLOAT, x),
    makeValueInfo("w", DataType.FLOAT, w),
  ];
  graph.output = [makeValueInfo("out", DataType.FLOAT, null)];
  graph.valueInfo = [];
  return copy;
}

/** What the graph after the layer reads: its output first, then untouched upstream tensors (a residual branch). */
export function deltaCut(proto: ModelProto, delta: ConvDelta): { inputs: string[]; shapeSources: string[] } {
  return cutTensors(proto, delta.output);
}

/**
 * The graph from the layer's output on to the classifier output, fed the corrected pre-activation (and the cut's
 * other tensors), or null when `shapes` lacks a fed tensor (not float). suffixModel's unmasked form: its mask nodes
 * become one Identity.
 */
export function deltaSuffix(proto: ModelProto, delta: ConvDelta, shapes: ReadonlyMap<string, readonly number[]>, output: string): ModelProto | null {
  const shape = shapes.get(delta.output);
  if (!shape) return null;
  const name = "lesion.conv.next";
  const suffix = suffixModel(proto, { name, tensor: delta.output, rank: shape.length + 1, units: shape[0] }, shapes, output);
  if (!suffix) return null;
  const graph = suffix.model.graph!;
  const masking = (n: NodeProto) => (n.name ?? "").startsWith(`lesion/mask/${name}/`);
  const at = graph.node!.findIndex(masking);
  graph.node = graph.node!.filter((n) => !masking(n));
  graph.node.splice(at, 0, makeNode("Identity", [`${delta.output}::in`], [delta.output], "lesion/conv/in"));
  graph.input = graph.input!.filter((i) => !(i.name ?? "").endsWith(`.${name}`));
  return suffix.model;
}
