/**
 * Networks lesion can train: a chain of layers from the supported set, with their parameters by name
 * (`fc1.weight`, `fc1.bias`, PyTorch's convention). The same description builds the training-step graph
 * (src/onnx/trainGraph.ts) and the plain classifier saved at the end (src/onnx/build.ts).
 */
import { fail } from "../errors.js";
import type { LayerSpec } from "./build.js";
import { gelu } from "./float64/erf.js";
import { compileFloat64 } from "./float64/evaluate64.js";
import { constantTensors, indexGraph } from "./graph.js";
import { attributeFloat, attributeInt, attributeInts, attributeString, DataType, makeValueInfo, onnx, tensorDims, tensorValues, type GraphProto, type ModelProto, type NodeProto } from "./proto.js";
import { compositeActivations, type CompositeActivation } from "./sites.js";

export type NetworkLayer =
  | { op: "linear"; name: string; in: number; out: number; bias: boolean }
  | { op: "conv"; name: string; in: number; out: number; kernel: number; stride: number; padding: number; bias: boolean }
  /** gelu: PyTorch's nn.GELU() (the erf form), x·Φ(x); silu: nn.SiLU(), x·sigmoid(x). */
  | { op: "relu" | "tanh" | "sigmoid" | "gelu" | "silu" | "flatten" | "logsoftmax" }
  | { op: "leakyrelu"; alpha: number }
  | { op: "maxpool" | "avgpool"; kernel: number; stride: number }
  | { op: "dropout"; p: number }
  /**
   * BatchNorm over the channels of its input ([C] or [C, H, W]; PyTorch's BatchNorm1d/2d): trainable `name.weight`
   * (γ) and `name.bias` (β), buffers `name.running_mean` and `name.running_var`. Training normalises with the batch's
   * statistics and updates the running ones with `momentum` (PyTorch's convention: new = (1 − m)·old + m·batch, the
   * unbiased batch variance); evaluation uses the running ones.
   */
  | { op: "batchnorm"; name: string; channels: number; eps: number; momentum: number };

/** The elementwise activations a network's layers may be (a site after a layer is its activation's output). */
export const ACTIVATION_LAYERS: readonly string[] = ["relu", "leakyrelu", "tanh", "sigmoid", "gelu", "silu"];

export interface Network {
  /** One sample's input: [C, H, W] for images, [D] for flat inputs. */
  inputShape: number[];
  layers: NetworkLayer[];
}

export interface Parameter {
  name: string;
  shape: number[];
  /** Index of the layer it belongs to. */
  layer: number;
  /** Inputs per output unit, for PyTorch's default initialisation bound 1/√fanIn. */
  fanIn: number;
}

/** Parameters in layer order, weight before bias. */
export function parameters(network: Network): Parameter[] {
  return network.layers.flatMap((layer, i): Parameter[] => {
    if (layer.op === "batchnorm") return ["weight", "bias"].map((key) => ({ name: `${layer.name}.${key}`, shape: [layer.channels], layer: i, fanIn: 1 }));
    if (layer.op === "linear") {
      const weight = { name: `${layer.name}.weight`, shape: [layer.out, layer.in], layer: i, fanIn: layer.in };
      return layer.bias ? [weight, { name: `${layer.name}.bias`, shape: [layer.out], layer: i, fanIn: layer.in }] : [weight];
    }
    if (layer.op === "conv") {
      const fanIn = layer.in * layer.kernel * layer.kernel;
      const weight = { name: `${layer.name}.weight`, shape: [layer.out, layer.in, layer.kernel, layer.kernel], layer: i, fanIn };
      return layer.bias ? [weight, { name: `${layer.name}.bias`, shape: [layer.out], layer: i, fanIn }] : [weight];
    }
    return [];
  });
}

/**
 * Buffers in layer order: the running statistics of BatchNorm layers (`bn1.running_mean`, `bn1.running_var`), state
 * that training updates without gradients and evaluation reads.
 */
export function buffers(network: Network): Array<{ name: string; shape: number[]; layer: number }> {
  return network.layers.flatMap((layer, i) => (layer.op === "batchnorm" ? ["running_mean", "running_var"].map((key) => ({ name: `${layer.name}.${key}`, shape: [layer.channels], layer: i })) : []));
}

/** Per layer, one sample's output shape; checks that the layers fit together. */
export function layerShapes(network: Network): number[][] {
  let shape = network.inputShape;
  return network.layers.map((layer) => {
    switch (layer.op) {
      case "linear":
        if (shape.length !== 1 || shape[0] !== layer.in) fail("bad-arch", `layer ${layer.name} takes ${layer.in} inputs but gets [${shape.join(", ")}]${shape.length > 1 ? "; add flatten before it" : ""}`);
        shape = [layer.out];
        break;
      case "conv": {
        if (shape.length !== 3 || shape[0] !== layer.in) fail("bad-arch", `layer ${layer.name} takes ${layer.in} channels but gets [${shape.join(", ")}]`);
        const size = (s: number) => Math.floor((s + 2 * layer.padding - layer.kernel) / layer.stride) + 1;
        shape = [layer.out, size(shape[1]), size(shape[2])];
        break;
      }
      case "maxpool":
      case "avgpool": {
        if (shape.length !== 3) fail("bad-arch", `${layer.op} needs an image-shaped input, got [${shape.join(", ")}]`);
        const size = (s: number) => Math.floor((s - layer.kernel) / layer.stride) + 1;
        shape = [shape[0], size(shape[1]), size(shape[2])];
        break;
      }
      case "flatten":
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case "batchnorm":
        if ((shape.length !== 1 && shape.length !== 3) || shape[0] !== layer.channels) fail("bad-arch", `batch norm ${layer.name} has ${layer.channels} channels but gets [${shape.join(", ")}]`);
        break;
      default:
        break;
    }
    if (shape.some((d) => d < 1)) fail("bad-arch", `the input [${network.inputShape.join(", ")}] is too small for the layers`);
    return shape;
  });
}

/** The plain classifier of a network with the given parameter values (dropout becomes identity). */
export function classifierLayers(network: Network, values: ReadonlyMap<string, Float32Array>): LayerSpec[] {
  return network.layers.map((layer): LayerSpec => {
    switch (layer.op) {
      case "linear":
        return { op: "linear", name: layer.name, weight: values.get(`${layer.name}.weight`)!, shape: [layer.out, layer.in], bias: layer.bias ? values.get(`${layer.name}.bias`)! : null };
      case "conv":
        return { op: "conv", name: layer.name, weight: values.get(`${layer.name}.weight`)!, shape: [layer.out, layer.in, layer.kernel, layer.kernel], bias: layer.bias ? values.get(`${layer.name}.bias`)! : null, stride: layer.stride, padding: layer.padding };
      case "batchnorm": {
        const get = (key: string) => values.get(`${layer.name}.${key}`)!;
        return { op: "batchnorm", name: layer.name, scale: get("weight"), bias: get("bias"), mean: get("running_mean"), variance: get("running_var"), epsilon: layer.eps };
      }
      case "dropout":
        return { op: "dropout" };
      default:
        return layer;
    }
  });
}

/**
 * The index of the layer whose output is site `name`: the activation right after layer `name` when there is one
 * (that is where lesion names the site), else the layer itself.
 */
export function siteLayerIndex(network: Network, name: string): number {
  const index = network.layers.findIndex((l) => (l.op === "linear" || l.op === "conv") && l.name === name);
  if (index < 0) return -1;
  // A BatchNorm right after the layer belongs to it (as in src/onnx/sites.ts): the site is after BN and activation.
  const last = network.layers[index + 1]?.op === "batchnorm" ? index + 1 : index;
  const next = network.layers[last + 1];
  return next && ACTIVATION_LAYERS.includes(next.op) ? last + 1 : last;
}

/**
 * The trainable network behind an ONNX classifier made of the supported layers in a chain (the graphs lesion builds
 * and imports, and plain exported MLPs/CNNs), with its parameter values; null when the graph has anything else, and
 * then `why` is told what: the first node off the chain, in one phrase ("Add node /layer1/Add does not read …").
 */
export function networkOf(model: ModelProto, inputShape: number[], why?: (reason: string) => void): { network: Network; values: Map<string, Float32Array> } | null {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const constants = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const layers: NetworkLayer[] = [];
  const values = new Map<string, Float32Array>();
  let current = index.inputs[0];
  let shape = inputShape;
  const floatsOf = (name: string | undefined) => {
    const t = name ? constants.get(name) : undefined;
    return t && t.dataType === DataType.FLOAT ? { values: tensorValues(t) as Float32Array, dims: tensorDims(t) } : null;
  };
  // GELU and SiLU as torch.onnx writes them before opset 20 (several nodes, src/onnx/sites.ts): one layer each.
  const composites = compositeActivations(graph, index);
  const inside = new Set<NodeProto>();
  // Why the graph is no chain lesion trains, for the caller's message (recover on a ResNet had named no node).
  const stop = (node: NodeProto, what: string) => {
    why?.(`${node.opType} node ${node.name || node.output?.[0] || "(unnamed)"} ${what}`);
    return null;
  };
  for (const node of graph.node ?? []) {
    if (node.opType === "Constant" || inside.has(node)) continue;
    const composite = composites.get(current);
    if (composite?.nodes.includes(node)) {
      const op = compositeLayer(composite, graph);
      if (!op) return stop(composite.last, "ends an activation lesion does not train");
      layers.push({ op });
      for (const member of composite.nodes) inside.add(member);
      current = composite.last.output![0];
      continue;
    }
    if (node.input?.[0] !== current) return stop(node, "does not read the previous layer's output: the graph branches or joins (a residual Add, a concatenation)");
    const name = layerName(node.name ?? "", node.input?.[1] ?? "", layers.length);
    switch (node.opType) {
      case "Gemm": {
        const weight = floatsOf(node.input[1]);
        if (!weight || attributeInt(node, "transB", 0) !== 1 || attributeInt(node, "transA", 0) !== 0 || attributeFloat(node, "alpha", 1) !== 1 || attributeFloat(node, "beta", 1) !== 1) return stop(node, "is no Linear layer (computed weights, or transA/transB/alpha/beta other than PyTorch's)");
        const bias = floatsOf(node.input[2]);
        if (node.input[2] && !bias) return stop(node, "has a computed bias");
        const [out, inputs] = weight.dims;
        layers.push({ op: "linear", name, in: inputs, out, bias: bias !== null });
        values.set(`${name}.weight`, weight.values);
        if (bias) values.set(`${name}.bias`, bias.values);
        break;
      }
      case "Conv": {
        const weight = floatsOf(node.input[1]);
        if (!weight || weight.dims.length !== 4 || weight.dims[2] !== weight.dims[3] || attributeInt(node, "group", 1) !== 1) return stop(node, "is no plain 2-D convolution lesion trains (computed weights, a non-square kernel, or groups)");
        const pads = attributeInts(node, "pads", [0, 0, 0, 0]);
        const strides = attributeInts(node, "strides", [1, 1]);
        if (new Set(pads).size > 1 || strides[0] !== strides[1] || attributeInts(node, "dilations", [1, 1]).some((d) => d !== 1)) return stop(node, "has uneven padding or strides, or dilation");
        const bias = floatsOf(node.input[2]);
        layers.push({ op: "conv", name, in: weight.dims[1], out: weight.dims[0], kernel: weight.dims[2], stride: strides[0], padding: pads[0], bias: bias !== null });
        values.set(`${name}.weight`, weight.values);
        if (bias) values.set(`${name}.bias`, bias.values);
        break;
      }
      case "BatchNormalization": {
        const tensors = [1, 2, 3, 4].map((k) => floatsOf(node.input?.[k]));
        const channels = (layers.length > 0 ? layerShapes({ inputShape: shape, layers }).at(-1)! : shape)[0];
        if (tensors.some((t) => !t || t.values.length !== channels) || attributeInt(node, "training_mode", 0) !== 0) return stop(node, "is no BatchNorm of the previous layer's channels");
        // Trained with PyTorch's momentum 0.1 whatever the exporter wrote (ONNX's momentum is 1 − PyTorch's).
        // ε is a float32 attribute: read back as the shortest decimal that rounds to it (1e-5, not 9.99999975e-6).
        layers.push({ op: "batchnorm", name, channels, eps: Number(attributeFloat(node, "epsilon", 1e-5).toPrecision(7)), momentum: 0.1 });
        ["weight", "bias", "running_mean", "running_var"].forEach((key, k) => values.set(`${name}.${key}`, tensors[k]!.values));
        break;
      }
      case "Relu":
      case "Tanh":
      case "Sigmoid":
        layers.push({ op: node.opType.toLowerCase() as "relu" });
        break;
      case "LeakyRelu":
        layers.push({ op: "leakyrelu", alpha: attributeFloat(node, "alpha", 0.01) });
        break;
      case "Gelu":
        // Opset 20's Gelu; its tanh form is not one lesion trains.
        if (attributeString(node, "approximate", "none") !== "none") return stop(node, "is GELU's tanh form");
        layers.push({ op: "gelu" });
        break;
      case "LogSoftmax":
        layers.push({ op: "logsoftmax" });
        break;
      case "Flatten":
        if (attributeInt(node, "axis", 1) !== 1) return stop(node, "flattens from another axis than 1");
        layers.push({ op: "flatten" });
        break;
      case "MaxPool":
      case "AveragePool": {
        const kernel = attributeInts(node, "kernel_shape", []);
        const strides = attributeInts(node, "strides", kernel);
        if (kernel.length !== 2 || kernel[0] !== kernel[1] || strides[0] !== strides[1] || attributeInts(node, "pads", [0, 0, 0, 0]).some((p) => p !== 0)) return stop(node, "pools with padding or an uneven window");
        layers.push({ op: node.opType === "MaxPool" ? "maxpool" : "avgpool", kernel: kernel[0], stride: strides[0] });
        break;
      }
      case "Identity":
      case "Dropout":
        break;
      default: {
        // Two computed inputs (not initializers or Constant nodes' outputs): a join, as a ResNet's residual Add or a
        // concatenation, which a chain has not.
        const fixed = constantTensors(graph);
        const computed = (node.input ?? []).filter((i) => i && !fixed.has(i));
        return stop(node, computed.length > 1 ? "joins two branches (a residual connection or a concatenation), which a chain of layers has not" : "is no layer lesion trains");
      }
    }
    current = node.output![0];
  }
  if (!index.outputs.includes(current) || layers.length === 0) {
    why?.(layers.length === 0 ? "no layer lesion trains" : `the chain ends in ${current}, not the model's output`);
    return null;
  }
  const network: Network = { inputShape: shape, layers };
  shape = layerShapes(network)[layers.length - 1];
  return { network, values };
}

/**
 * The layer an activation written as several nodes computes, where it is one lesion trains: "gelu" (x·Φ(x), the erf
 * form) or "silu" (x·sigmoid(x)), told apart by value, not by node pattern: its nodes, run in float64 on eight points
 * of [−4, 4], match one of the two to 1e-6 (its constants are float32); else null.
 */
function compositeLayer(composite: CompositeActivation, graph: GraphProto): "gelu" | "silu" | null {
  const output = composite.last.output![0];
  const used = new Set(composite.nodes.flatMap((n) => n.input ?? []));
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: onnx.GraphProto.create({
      node: [...(graph.node ?? []).filter((n) => n.opType === "Constant" && (n.output ?? []).some((o) => used.has(o))), ...composite.nodes],
      initializer: (graph.initializer ?? []).filter((t) => used.has(t.name ?? "")),
      input: [makeValueInfo(composite.input, DataType.FLOAT, [8])],
      output: [makeValueInfo(output, DataType.FLOAT, null)],
    }),
  });
  const compiled = compileFloat64(model, [output]);
  if (!compiled.graph) return null;
  const x = Float64Array.of(-4, -1.5, -0.5, -0.1, 0.2, 0.7, 1.9, 4);
  let y: Float64Array;
  try {
    y = compiled.graph.run({ [composite.input]: { dims: [8], data: x } })[output].data;
  } catch {
    return null;
  }
  const matches = (f: (v: number) => number) => Array.from(x).every((v, i) => Math.abs(y[i] - f(v)) <= 1e-6 * Math.max(1, Math.abs(f(v))));
  if (matches((v) => gelu(v))) return "gelu";
  if (matches((v) => v / (1 + Math.exp(-v)))) return "silu";
  return null;
}

/** `fc1` from `/fc1/Gemm` or `fc1.weight`, else the op's position. */
function layerName(node: string, weight: string, position: number): string {
  const fromWeight = /^(.+)\.weight$/.exec(weight)?.[1];
  if (fromWeight) return fromWeight;
  const segments = node.split("/").filter(Boolean);
  return segments.length >= 2 ? segments[segments.length - 2] : `layer${position}`;
}
