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
import { computesShape, constantInts, flattens, layerName, padChannelsOf, spatialMeanOf, subsampleOf, type PadChannelsLayer, type SubsampleLayer } from "./networkNodes.js";
import { compositeActivations, type CompositeActivation } from "./sites.js";

/** One layer of a trainable network: linear, conv and batchnorm carry parameters named `name.weight`, `name.bias` (PyTorch's); the others none. */
export type NetworkLayer =
  | { op: "linear"; name: string; in: number; out: number; bias: boolean }
  | { op: "conv"; name: string; in: number; out: number; kernel: number; stride: number; padding: number; bias: boolean }
  /** gelu: PyTorch's nn.GELU() (the erf form), x·Φ(x); silu: nn.SiLU(), x·sigmoid(x). */
  | { op: "relu" | "tanh" | "sigmoid" | "gelu" | "silu" | "flatten" | "logsoftmax" }
  | { op: "leakyrelu"; alpha: number }
  /** `padding` (max pool only, PyTorch's MaxPool2d(padding=p): padded positions never win): 0 when absent. */
  | { op: "maxpool" | "avgpool"; kernel: number; stride: number; padding?: number }
  | { op: "dropout"; p: number }
  /**
   * BatchNorm over the channels of its input ([C] or [C, H, W]; PyTorch's BatchNorm1d/2d): trainable `name.weight`
   * (γ) and `name.bias` (β), buffers `name.running_mean` and `name.running_var`. Training normalises with the batch's
   * statistics and updates the running ones with `momentum` (PyTorch's convention: new = (1 − m)·old + m·batch, the
   * unbiased batch variance); evaluation uses the running ones.
   */
  | { op: "batchnorm"; name: string; channels: number; eps: number; momentum: number }
  /** A residual connection: the sum of the output it reads and the output of layer `from` (−1: the network's input). */
  | { op: "add"; name: string; from: number }
  /** The mean over all positions of each channel ([C, H, W] → [C, 1, 1]; PyTorch's AdaptiveAvgPool2d(1)). */
  | { op: "globalavgpool" }
  /** The CIFAR ResNets' option A shortcut (He et al. 2016; akamaster/pytorch_resnet_cifar10), networkNodes.ts. */
  | SubsampleLayer
  | PadChannelsLayer;

/**
 * Where a layer reads its input: the output of layer `input` (−1: the network's input). Absent, the layer before it:
 * a chain. A residual network's branches read back (a block's shortcut conv reads the block's input).
 */
export type Wired<T> = T & { input?: number };

/** The elementwise activations a network's layers may be (a site after a layer is its activation's output). */
export const ACTIVATION_LAYERS: readonly string[] = ["relu", "leakyrelu", "tanh", "sigmoid", "gelu", "silu"];

/** A network lesion can train (`train`, `recover`, `transplant`): one sample's input shape and its layers. */
export interface Network {
  /** One sample's input: [C, H, W] for images, [D] for flat inputs. */
  inputShape: number[];
  /** In order; each reads the layer before it unless it names its `input` (an earlier layer, −1 the input). */
  layers: Array<Wired<NetworkLayer>>;
}

/** The index of the layer whose output layer `i` reads (−1: the network's input). */
export function inputOf(network: Network, i: number): number {
  return network.layers[i].input ?? i - 1;
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
  const shapes: number[][] = [];
  const shapeOf = (i: number) => (i < 0 ? network.inputShape : shapes[i]);
  network.layers.forEach((layer, i) => {
    let shape = shapeOf(inputOf(network, i));
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
        const size = (s: number) => Math.floor((s + 2 * (layer.padding ?? 0) - layer.kernel) / layer.stride) + 1;
        shape = [shape[0], size(shape[1]), size(shape[2])];
        break;
      }
      case "flatten":
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case "batchnorm":
        if ((shape.length !== 1 && shape.length !== 3) || shape[0] !== layer.channels) fail("bad-arch", `batch norm ${layer.name} has ${layer.channels} channels but gets [${shape.join(", ")}]`);
        break;
      case "add":
        if (shapeOf(layer.from).join() !== shape.join()) fail("bad-arch", `${layer.name} adds [${shapeOf(layer.from).join(", ")}] to [${shape.join(", ")}]`);
        break;
      case "globalavgpool":
        if (shape.length !== 3) fail("bad-arch", `global average pooling needs an image-shaped input, got [${shape.join(", ")}]`);
        shape = [shape[0], 1, 1];
        break;
      case "subsample":
        if (shape.length !== 3) fail("bad-arch", `subsampling needs an image-shaped input, got [${shape.join(", ")}]`);
        shape = shape.map((d, axis) => (layer.axes.includes(axis + 1) ? Math.ceil(d / layer.stride) : d));
        break;
      case "padchannels":
        shape = [shape[0] + layer.before + layer.after, ...shape.slice(1)];
        break;
      default:
        break;
    }
    if (shape.some((d) => d < 1)) fail("bad-arch", `the input [${network.inputShape.join(", ")}] is too small for the layers`);
    shapes.push(shape);
  });
  return shapes;
}

/** The plain classifier of a network with the given parameter values (dropout becomes identity). */
export function classifierLayers(network: Network, values: ReadonlyMap<string, Float32Array>): LayerSpec[] {
  return network.layers.map((layer) => ({ ...classifierLayer(layer, values), ...(layer.input === undefined ? {} : { input: layer.input }) }));
}

function classifierLayer(layer: NetworkLayer, values: ReadonlyMap<string, Float32Array>): LayerSpec {
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
}

/**
 * The index of the layer whose output is site `name`: the activation right after layer `name` when there is one
 * (that is where lesion names the site), else the layer itself.
 */
export function siteLayerIndex(network: Network, name: string): number {
  const index = network.layers.findIndex((l) => (l.op === "linear" || l.op === "conv" || l.op === "add") && l.name === name);
  if (index < 0) return -1;
  // Layer j comes right after layer i: the next one, reading it (a residual block's shortcut conv reads back instead).
  const follows = (j: number, i: number) => j < network.layers.length && inputOf(network, j) === i;
  // A BatchNorm right after the layer belongs to it (as in src/onnx/sites.ts): the site is after BN and activation.
  const last = follows(index + 1, index) && network.layers[index + 1].op === "batchnorm" ? index + 1 : index;
  return follows(last + 1, last) && ACTIVATION_LAYERS.includes(network.layers[last + 1].op) ? last + 1 : last;
}

/**
 * The trainable network behind an ONNX classifier made of the supported layers (the graphs lesion builds and imports,
 * plain exported MLPs/CNNs, and residual networks whose branches join in an Add: an exported ResNet), with its
 * parameter values; null when the graph has anything else, and then `why` is told what: the first node lesion cannot
 * train, in one phrase ("Concat node /Concat joins two branches …").
 */
export function networkOf(model: ModelProto, inputShape: number[], why?: (reason: string) => void): { network: Network; values: Map<string, Float32Array> } | null {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const constants = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const layers: Array<Wired<NetworkLayer>> = [];
  const values = new Map<string, Float32Array>();
  // Which layer computes a tensor (−1: the network's input); an Identity or Dropout passes its input's on.
  const layerOf = new Map<string, number>([[index.inputs[0], -1]]);
  const shapeOf = (i: number) => (i < 0 ? inputShape : layerShapes({ inputShape, layers: layers.slice(0, i + 1) })[i]);
  const floatsOf = (name: string | undefined) => {
    const t = name ? constants.get(name) : undefined;
    return t && t.dataType === DataType.FLOAT ? { values: tensorValues(t) as Float32Array, dims: tensorDims(t) } : null;
  };
  // GELU and SiLU as torch.onnx writes them before opset 20 (several nodes, src/onnx/sites.ts): one layer each.
  const composites = compositeActivations(graph, index);
  const ints = constantInts(graph);
  const shapes = new Set<string>();
  const compositeOf = new Map([...composites.values()].flatMap((c) => c.nodes.map((n) => [n, c] as const)));
  const inside = new Set<NodeProto>();
  // Why the graph is no chain lesion trains, for the caller's message (recover on a ResNet had named no node).
  const stop = (node: NodeProto, what: string) => {
    why?.(`${node.opType} node ${node.name || node.output?.[0] || "(unnamed)"} ${what}`);
    return null;
  };
  // A layer that reads another than the one before it names its input.
  const wired = (source: number) => (source === layers.length - 1 ? {} : { input: source });
  for (const node of graph.node ?? []) {
    if (node.opType === "Constant" || inside.has(node)) continue;
    const composite = compositeOf.get(node);
    if (composite) {
      const source = layerOf.get(composite.input);
      if (source === undefined) return stop(node, "reads a tensor no layer lesion trains computes");
      const op = compositeLayer(composite, graph);
      if (!op) return stop(composite.last, "ends an activation lesion does not train");
      layers.push({ op, ...wired(source) });
      for (const member of composite.nodes) inside.add(member);
      layerOf.set(composite.last.output![0], layers.length - 1);
      continue;
    }
    // Shape arithmetic (`x.size(0)` for a view) is no layer: its outputs only say how a Reshape flattens.
    if (computesShape(node, (name) => shapes.has(name), ints)) {
      for (const output of node.output ?? []) shapes.add(output);
      continue;
    }
    const source = layerOf.get(node.input?.[0] ?? "");
    if (source === undefined || !node.input) return stop(node, "reads a tensor no layer lesion trains computes");
    let shape: number[];
    try {
      shape = shapeOf(source);
    } catch (error) {
      // The layers read so far do not fit (a Reshape taken for a flatten before a linear of another width).
      return stop(node, `follows layers that do not fit: ${(error as Error).message}`);
    }
    const name = layerName(node.name ?? "", node.input?.[1] ?? "", layers.length, node.opType ?? "");
    const count = layers.length;
    const wiring = wired(source);
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
        const channels = shape[0];
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
      case "Reshape":
        if (!flattens(node, shape, (name) => shapes.has(name), ints)) return stop(node, "reshapes to other than [batch, features]");
        layers.push({ op: "flatten" });
        break;
      case "MaxPool":
      case "AveragePool": {
        const kernel = attributeInts(node, "kernel_shape", []);
        const strides = attributeInts(node, "strides", kernel);
        const pads = attributeInts(node, "pads", [0, 0, 0, 0]);
        // A max pool's padding (torchvision's ResNet stem) trains; an average pool's would count its zeros.
        const padded = node.opType === "MaxPool" && new Set(pads).size === 1 && pads[0] < kernel[0];
        if (kernel.length !== 2 || kernel[0] !== kernel[1] || strides[0] !== strides[1] || (pads.some((p) => p !== 0) && !padded) || attributeInt(node, "ceil_mode", 0) !== 0) return stop(node, "pools with uneven padding, an average pool's padding, ceil mode or an uneven window");
        layers.push({ op: node.opType === "MaxPool" ? "maxpool" : "avgpool", kernel: kernel[0], stride: strides[0], ...(pads[0] > 0 ? { padding: pads[0] } : {}) });
        break;
      }
      case "Identity":
      case "Dropout":
        layerOf.set(node.output![0], source);
        continue;
      case "GlobalAveragePool":
        if (shape.length !== 3) return stop(node, "pools a tensor that is no image");
        layers.push({ op: "globalavgpool" });
        break;
      case "ReduceMean": {
        const mean = spatialMeanOf(node, shape, ints);
        if (!mean) return stop(node, "averages over other axes than an image's positions (x.mean((2, 3)))");
        layers.push({ op: "globalavgpool" }, ...(mean.keepdims ? [] : [{ op: "flatten" as const }]));
        break;
      }
      case "Slice":
      case "Pad": {
        // A CIFAR ResNet's option A shortcut: every second row and column, zero channels around.
        const layer = node.opType === "Slice" ? subsampleOf(node, shape, ints) : padChannelsOf(node, ints);
        if (!layer) return stop(node, node.opType === "Slice" ? "slices other than every s-th row or column" : "pads other than zero channels");
        // A Pad of nothing (torch.onnx writes one before an average pool) or a Slice of every row passes its input on.
        if ((layer.op === "padchannels" && layer.before + layer.after === 0) || (layer.op === "subsample" && layer.stride === 1)) {
          layerOf.set(node.output![0], source);
          continue;
        }
        layers.push(layer);
        break;
      }
      case "Add": {
        // A residual connection: both inputs computed by layers of the network, of one shape.
        const other = layerOf.get(node.input?.[1] ?? "");
        if (other === undefined || shapeOf(other).join() !== shape.join()) return stop(node, "adds what is no layer's output of the same shape (a bias, a broadcast)");
        layers.push({ op: "add", name, from: other });
        break;
      }
      default: {
        // Two computed inputs (not initializers or Constant nodes' outputs): a join, as a ResNet's residual Add or a
        // concatenation, which a chain has not.
        const fixed = constantTensors(graph);
        const computed = (node.input ?? []).filter((i) => i && !fixed.has(i));
        return stop(node, computed.length > 1 ? "joins two branches in a way lesion does not train (a concatenation, a product; a residual Add it trains)" : "is no layer lesion trains");
      }
    }
    if (layers.length > count) Object.assign(layers[count], wiring);
    layerOf.set(node.output![0], layers.length - 1);
  }
  const output = index.outputs[0];
  if (layers.length === 0 || layerOf.get(output) !== layers.length - 1) {
    why?.(layers.length === 0 ? "no layer lesion trains" : `the model's output ${output} is not its last layer's`);
    return null;
  }
  return { network: { inputShape, layers }, values };
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
