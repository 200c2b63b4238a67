/**
 * Dense chains: graphs that are exactly an MLP, input → [Flatten/Reshape] → (Linear → ReLU)* → Linear → logits,
 * every Linear a Gemm or a MatMul (+ bias Add) with constant weights. For these the fast exact sweep
 * (src/engine/sweep/denseSweep.ts) applies; any other graph, or one with a non-finite weight or bias, returns null and
 * takes the general path.
 */
import { constantTensors, indexGraph } from "./graph.js";
import { attributeFloat, attributeInt, DataType, tensorDims, tensorValues, toInt, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from "./proto.js";
import { locateSites } from "./sites.js";

export interface DenseLayer {
  /** The site name of this layer's output (its ReLU output for a hidden layer, its logits for the last). */
  name: string;
  in: number;
  out: number;
  /** [out, in], row-major. */
  weight: Float64Array;
  bias: Float64Array | null;
  /** Null only for the output layer. */
  activation: "relu" | null;
  /** The graph tensor holding the layer's pre-activation (after the bias). */
  preActivation: string;
}

export interface DenseChain {
  /** Hidden layers, then the output layer. */
  layers: DenseLayer[];
}

const PASS_THROUGH = new Set(["Flatten", "Reshape", "Identity"]);

export function denseChain(model: ModelProto): DenseChain | null {
  const graph = model.graph;
  if (!graph) return null;
  const index = indexGraph(graph);
  if (index.inputs.length !== 1 || index.outputs.length !== 1) return null;
  const constants = constantValues(graph);
  const sites = locateSites(graph);
  const only = (tensor: string): NodeProto | null => {
    const consumers = index.consumers.get(tensor) ?? [];
    return consumers.length === 1 && !index.outputs.includes(tensor) ? consumers[0] : null;
  };
  // Shape nodes read a tensor's dims, not its values: `x.view(x.size(0), -1)` exports as Shape → Gather → Unsqueeze →
  // Concat feeding a Reshape of x, and x's values still flow only into the Reshape.
  const reader = (tensor: string): NodeProto | null => {
    const consumers = (index.consumers.get(tensor) ?? []).filter((n) => n.opType !== "Shape");
    return consumers.length === 1 && !index.outputs.includes(tensor) ? consumers[0] : null;
  };
  const shapes = constantTensors(graph);
  const layers: DenseLayer[] = [];
  let tensor = index.inputs[0];
  let node = reader(tensor);
  let computedShape = false;
  // Reshapes only at the front: they flatten the image.
  while (node && PASS_THROUGH.has(node.opType ?? "") && layers.length === 0) {
    if (node.opType === "Flatten" && attributeInt(node, "axis", 1) !== 1) return null;
    if (node.opType === "Reshape" && !shapes.has(node.input![1] ?? "")) computedShape = true;
    tensor = node.output![0];
    node = reader(tensor);
  }
  // A Reshape to a computed shape is a flatten where a Gemm (rank 2) of the input's size per sample reads it.
  if (computedShape && !(node?.opType === "Gemm" && isFlattenedSize(graph, index.inputs[0], node, constants))) return null;
  for (;;) {
    if (!node) return null;
    const layer = linear(node, tensor, constants);
    if (!layer) return null;
    let end = node.output![0];
    let bias = layer.bias;
    const next = only(end);
    if (layer.bias === null && next?.opType === "Add") {
      const other = next.input![0] === end ? next.input![1] : next.input![0];
      const values = constants.get(other ?? "");
      if (values && values.length === layer.out) {
        bias = Float64Array.from(values);
        end = next.output![0];
      }
    }
    const site = sites.find((s) => s.layer === node!.name && (node!.name ?? "") !== "");
    const after = only(end);
    if (after?.opType === "Relu") {
      if (!site || site.tensor !== after.output![0]) return null;
      layers.push({ name: site.name, in: layer.in, out: layer.out, weight: layer.weight, bias, activation: "relu", preActivation: end });
      tensor = after.output![0];
      node = only(tensor);
      continue;
    }
    if (after !== null || !index.outputs.includes(end)) return null;
    if (!site || site.tensor !== end) return null;
    layers.push({ name: site.name, in: layer.in, out: layer.out, weight: layer.weight, bias, activation: null, preActivation: end });
    break;
  }
  for (let i = 1; i < layers.length; i++) if (layers[i].in !== layers[i - 1].out) return null;
  // The dense engine ablates by subtracting a unit's contribution (z − W·h), which cannot remove a NaN or infinite
  // one; with non-finite weights the general path's masked graph forces ablated units to exactly 0 instead.
  if (!layers.every((l) => l.weight.every(Number.isFinite) && (l.bias?.every(Number.isFinite) ?? true))) return null;
  return { layers };
}

/** Whether the Gemm's input width is the graph input's size per sample (its dims after the first, all known). */
function isFlattenedSize(graph: GraphProto, input: string, gemm: NodeProto, constants: Map<string, Float64Array & { dims?: number[] }>): boolean {
  const dims = graph.input?.find((i) => i.name === input)?.type?.tensorType?.shape?.dim?.slice(1) ?? [];
  const sizes = dims.map((d) => (d.dimParam || d.dimValue === null || d.dimValue === undefined ? 0 : toInt(d.dimValue)));
  const weight = constants.get(gemm.input![1] ?? "");
  if (!weight?.dims || sizes.length === 0 || !sizes.every((d) => d > 0)) return false;
  const width = attributeInt(gemm, "transB", 0) ? weight.dims[1] : weight.dims[0];
  return width === sizes.reduce((a, b) => a * b, 1);
}

/** A Gemm/MatMul of `input` by a constant: weight as [out, in] and the Gemm's own bias (scaled by beta). */
function linear(node: NodeProto, input: string, constants: Map<string, Float64Array & { dims?: number[] }>): { in: number; out: number; weight: Float64Array; bias: Float64Array | null } | null {
  const op = node.opType;
  if (op !== "Gemm" && op !== "MatMul") return null;
  if (node.input![0] !== input) return null;
  const b = constants.get(node.input![1] ?? "");
  if (!b || b.dims?.length !== 2) return null;
  const transB = op === "Gemm" ? attributeInt(node, "transB", 0) : 0;
  if (op === "Gemm" && attributeInt(node, "transA", 0) !== 0) return null;
  const alpha = op === "Gemm" ? attributeFloat(node, "alpha", 1) : 1;
  const beta = op === "Gemm" ? attributeFloat(node, "beta", 1) : 1;
  const [r, c] = b.dims;
  const [out, inputs] = transB ? [r, c] : [c, r];
  const weight = new Float64Array(out * inputs);
  for (let o = 0; o < out; o++) for (let i = 0; i < inputs; i++) weight[o * inputs + i] = alpha * (transB ? b[o * inputs + i] : b[i * out + o]);
  let bias: Float64Array | null = null;
  const cName = op === "Gemm" ? node.input![2] : undefined;
  if (cName) {
    const c = constants.get(cName);
    if (!c || c.length !== out) return null;
    bias = c.map((v) => beta * v);
  }
  return { in: inputs, out, weight, bias };
}

/** Float initializers and Constant-node outputs as float64, with their dims. */
function constantValues(graph: GraphProto): Map<string, Float64Array & { dims?: number[] }> {
  const values = new Map<string, Float64Array & { dims?: number[] }>();
  const add = (name: string, tensor: TensorProto) => {
    const type = tensor.dataType;
    if (type !== DataType.FLOAT && type !== DataType.DOUBLE) return;
    const array = Float64Array.from(tensorValues(tensor) as Float32Array) as Float64Array & { dims?: number[] };
    array.dims = tensorDims(tensor);
    values.set(name, array);
  };
  for (const [name, tensor] of constantTensors(graph)) add(name, tensor);
  return values;
}
