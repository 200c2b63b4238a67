/**
 * Builds a classifier graph from a list of layers with their weights. Node and initializer names follow PyTorch's
 * exporter (`fc1.weight`, `/fc1/Gemm`), so sites get the same names as in an exported PyTorch model.
 */
import type { PadChannelsLayer, SubsampleLayer } from "./networkNodes.js";
import { DataType, makeNode, makeTensor, makeValueInfo, onnx, type ModelProto, type NodeProto, type TensorProto } from "./proto.js";

export type LayerSpec =
  | { op: "linear"; name: string; weight: Float32Array; shape: [number, number]; bias: Float32Array | null }
  | { op: "conv"; name: string; weight: Float32Array; shape: [number, number, number, number]; bias: Float32Array | null; stride: number; padding: number }
  | { op: "batchnorm"; name: string; scale: Float32Array; bias: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number }
  | { op: "relu" | "tanh" | "sigmoid" | "flatten" | "dropout" | "logsoftmax" }
  /** Written as torch.onnx (opset 17) writes nn.GELU() and nn.SiLU(): x·0.5·(1 + erf(x/√2)) and x·sigmoid(x). */
  | { op: "gelu" | "silu" }
  | { op: "leakyrelu"; alpha: number }
  | { op: "maxpool" | "avgpool"; kernel: number; stride: number; padding?: number }
  /** The sum of the output it reads and layer `from`'s (a residual connection); named as the block (`layer1.0`). */
  | { op: "add"; name: string; from: number }
  | { op: "globalavgpool" }
  | SubsampleLayer
  | PadChannelsLayer;

export interface ClassifierSpec {
  /** In order; a layer with `input` reads that earlier layer's output (−1: the graph's input), else the one before it. */
  layers: Array<LayerSpec & { input?: number }>;
  /** One sample's input shape: [D] for a flat input, [C, H, W] for images. */
  inputShape: number[];
}

export const INPUT_NAME = "input";
export const OUTPUT_NAME = "logits";

export function buildClassifier(spec: ClassifierSpec): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = INPUT_NAME;
  let counter = 0;
  const next = (layer: string, op: string) => {
    const output = `/${layer}/${op}_output_0`;
    return output;
  };
  const outputs: string[] = [];
  spec.layers.forEach((layer, position) => {
    const last = position === spec.layers.length - 1;
    if (layer.input !== undefined) current = layer.input < 0 ? INPUT_NAME : outputs[layer.input];
    let output: string;
    switch (layer.op) {
      case "linear": {
        initializers.push(makeTensor(`${layer.name}.weight`, layer.shape, layer.weight));
        const inputs = [current, `${layer.name}.weight`];
        if (layer.bias) {
          initializers.push(makeTensor(`${layer.name}.bias`, [layer.shape[0]], layer.bias));
          inputs.push(`${layer.name}.bias`);
        }
        output = next(layer.name, "Gemm");
        nodes.push(makeNode("Gemm", inputs, [output], `/${layer.name}/Gemm`, { alpha: 1.0, beta: 1.0, transB: 1 }));
        break;
      }
      case "conv": {
        initializers.push(makeTensor(`${layer.name}.weight`, layer.shape, layer.weight));
        const inputs = [current, `${layer.name}.weight`];
        if (layer.bias) {
          initializers.push(makeTensor(`${layer.name}.bias`, [layer.shape[0]], layer.bias));
          inputs.push(`${layer.name}.bias`);
        }
        output = next(layer.name, "Conv");
        const p = layer.padding;
        nodes.push(
          makeNode("Conv", inputs, [output], `/${layer.name}/Conv`, {
            kernel_shape: [layer.shape[2], layer.shape[3]],
            pads: [p, p, p, p],
            strides: [layer.stride, layer.stride],
            dilations: [1, 1],
            group: 1,
          }),
        );
        break;
      }
      case "batchnorm": {
        const names = ["weight", "bias", "running_mean", "running_var"].map((n) => `${layer.name}.${n}`);
        [layer.scale, layer.bias, layer.mean, layer.variance].forEach((values, i) => initializers.push(makeTensor(names[i], [values.length], values)));
        output = next(layer.name, "BatchNormalization");
        nodes.push(makeNode("BatchNormalization", [current, ...names], [output], `/${layer.name}/BatchNormalization`, { epsilon: layer.epsilon }));
        break;
      }
      case "maxpool":
      case "avgpool": {
        const op = layer.op === "maxpool" ? "MaxPool" : "AveragePool";
        const name = `${layer.op}${counter++}`;
        output = next(name, op);
        const p = layer.padding ?? 0;
        nodes.push(makeNode(op, [current], [output], `/${name}/${op}`, { kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], ...(p > 0 ? { pads: [p, p, p, p] } : {}) }));
        break;
      }
      case "add": {
        const from = layer.from < 0 ? INPUT_NAME : outputs[layer.from];
        output = next(layer.name, "Add");
        nodes.push(makeNode("Add", [current, from], [output], `/${layer.name}/Add`));
        break;
      }
      case "globalavgpool": {
        const name = `avgpool${counter++}`;
        output = next(name, "GlobalAveragePool");
        nodes.push(makeNode("GlobalAveragePool", [current], [output], `/${name}/GlobalAveragePool`));
        break;
      }
      case "subsample":
      case "padchannels": {
        const name = `${layer.op}${counter++}`;
        output = next(name, layer.op === "subsample" ? "Slice" : "Pad");
        const built = layer.op === "subsample" ? subsampleNode(`/${name}`, current, output, layer) : padChannelsNode(`/${name}`, current, output, layer);
        nodes.push(built.node);
        initializers.push(...built.initializers);
        break;
      }
      case "gelu": {
        const name = `gelu${counter++}`;
        const constant = (suffix: string, value: number) => {
          const tensor = `/${name}/Constant${suffix}_output_0`;
          initializers.push(makeTensor(tensor, [], Float32Array.of(value)));
          return tensor;
        };
        const scaled = next(name, "Div");
        const erf = next(name, "Erf");
        const shifted = next(name, "Add");
        const product = next(name, "Mul");
        output = next(name, "Mul_1");
        nodes.push(
          makeNode("Div", [current, constant("", Math.SQRT2)], [scaled], `/${name}/Div`),
          makeNode("Erf", [scaled], [erf], `/${name}/Erf`),
          makeNode("Add", [erf, constant("_1", 1)], [shifted], `/${name}/Add`),
          makeNode("Mul", [current, shifted], [product], `/${name}/Mul`),
          makeNode("Mul", [product, constant("_2", 0.5)], [output], `/${name}/Mul_1`),
        );
        break;
      }
      case "silu": {
        const name = `silu${counter++}`;
        const gate = next(name, "Sigmoid");
        output = next(name, "Mul");
        nodes.push(makeNode("Sigmoid", [current], [gate], `/${name}/Sigmoid`), makeNode("Mul", [current, gate], [output], `/${name}/Mul`));
        break;
      }
      default: {
        const op = { relu: "Relu", tanh: "Tanh", sigmoid: "Sigmoid", flatten: "Flatten", dropout: "Identity", logsoftmax: "LogSoftmax", leakyrelu: "LeakyRelu" }[layer.op];
        const name = `${layer.op}${counter++}`;
        output = next(name, op);
        const attributes: Record<string, number> =
          layer.op === "flatten" || layer.op === "logsoftmax" ? { axis: 1 } : layer.op === "leakyrelu" ? { alpha: layer.alpha } : {};
        nodes.push(makeNode(op, [current], [output], `/${name}/${op}`, attributes));
      }
    }
    if (last) nodes[nodes.length - 1].output = [OUTPUT_NAME];
    current = last ? OUTPUT_NAME : output;
    outputs.push(current);
  });
  return classifierModel(nodes, initializers, spec.inputShape);
}

/**
 * The model of a classifier's nodes and initializers: one float input INPUT_NAME [batch, …inputShape], one output
 * OUTPUT_NAME [batch, classes], opset 17.
 */
export function classifierModel(nodes: NodeProto[], initializers: TensorProto[], inputShape: readonly number[]): ModelProto {
  const graph = onnx.GraphProto.create({
    name: "lesion",
    node: nodes,
    initializer: initializers,
    input: [makeValueInfo(INPUT_NAME, DataType.FLOAT, ["batch", ...inputShape])],
    output: [makeValueInfo(OUTPUT_NAME, DataType.FLOAT, ["batch", "classes"])],
  });
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: "lesion",
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })],
    graph,
  });
}

/** A constant int64 vector, as the Slice and Pad inputs below take them. */
function int64Tensor(name: string, values: readonly number[]): TensorProto {
  return makeTensor(name, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
}

/**
 * `x[:, :, ::s, ::s]` on `axes` (2, 3) as torch.onnx writes it: a Slice whose starts, ends, axes and steps are constant
 * tensors named under `scope`, returned beside the node.
 */
export function subsampleNode(scope: string, input: string, output: string, layer: SubsampleLayer): { node: NodeProto; initializers: TensorProto[] } {
  const { axes, stride } = layer;
  const initializers = [int64Tensor(`${scope}/starts`, axes.map(() => 0)), int64Tensor(`${scope}/ends`, axes.map(() => Number.MAX_SAFE_INTEGER)), int64Tensor(`${scope}/axes`, axes), int64Tensor(`${scope}/steps`, axes.map(() => stride))];
  return { node: makeNode("Slice", [input, ...initializers.map((t) => t.name!)], [output], `${scope}/Slice`), initializers };
}

/** `before` and `after` zero channels around the input's: a constant Pad, its pads a tensor named under `scope`. */
export function padChannelsNode(scope: string, input: string, output: string, layer: PadChannelsLayer): { node: NodeProto; initializers: TensorProto[] } {
  const pads = int64Tensor(`${scope}/pads`, [0, layer.before, 0, 0, 0, layer.after, 0, 0]);
  return { node: makeNode("Pad", [input, pads.name!], [output], `${scope}/Pad`, { mode: "constant" }), initializers: [pads] };
}
