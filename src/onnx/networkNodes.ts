/**
 * Nodes networkOf reads as layers beyond the plain ones:
 * - the option A shortcut of the CIFAR ResNets (He et al. 2016, as akamaster/pytorch_resnet_cifar10 writes it:
 *   `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))`): a Slice with steps on the spatial axes (torch.onnx writes one
 *   per axis) and a Pad of zero channels, their values from initializers or Constant nodes (opening a model folds the
 *   Pad's computed pads into one);
 * - `x.view(x.size(0), -1)`: a Reshape to a shape computed from the data's own (Shape, Gather, Unsqueeze, Concat),
 *   or to a constant [-1 or 0, C·H·W]: a flatten;
 * - `x.mean((2, 3))`: a ReduceMean over the positions, global average pooling (a flatten too where it drops the axes).
 */
import { constantTensors } from "./graph.js";
import { attributeInt, attributeInts, attributeString, tensorValues, type GraphProto, type NodeProto } from "./proto.js";
import { scopeName } from "./sites.js";

/**
 * Every `stride`-th row (axis 2) and/or column (axis 3) from the first, `x[:, :, ::s, ::s]`: with `padchannels`, the
 * option A shortcut of the CIFAR ResNets.
 */
export type SubsampleLayer = { op: "subsample"; axes: number[]; stride: number };
/** `before` and `after` zero channels around the input's (F.pad on the channel axis). */
export type PadChannelsLayer = { op: "padchannels"; before: number; after: number };

/** A reader of a constant integer tensor by name (an initializer or a Constant node's value), null for others. */
export function constantInts(graph: GraphProto): (name: string | undefined) => number[] | null {
  const tensors = constantTensors(graph);
  return (name) => {
    const tensor = name ? tensors.get(name) : undefined;
    return tensor ? Array.from(tensorValues(tensor) as ArrayLike<number | bigint>, Number) : null;
  };
}

/** A Slice that keeps every s-th row and/or column from the first (`x[:, :, ::s, ::s]`) of an image [C, H, W]; else null. */
export function subsampleOf(node: NodeProto, shape: number[], ints: (name: string | undefined) => number[] | null): SubsampleLayer | null {
  const [starts, ends, axesGiven, steps] = [1, 2, 3, 4].map((k) => ints(node.input?.[k]));
  if (shape.length !== 3 || !starts || !ends || !steps) return null;
  const axes = (axesGiven ?? starts.map((_, j) => j)).map((a) => (a < 0 ? a + 4 : a));
  const stride = steps[0];
  const fits = axes.every((axis, j) => (axis === 2 || axis === 3) && starts[j] === 0 && steps[j] === stride && ends[j] >= shape[axis - 1]);
  return fits && stride >= 1 ? { op: "subsample", axes, stride } : null;
}

/** A constant Pad of zeros on the channel axis alone ([0, b, 0, 0, 0, a, 0, 0]); else null. */
export function padChannelsOf(node: NodeProto, ints: (name: string | undefined) => number[] | null): PadChannelsLayer | null {
  // Opset 11 on: pads (and the value) are inputs; before: attributes.
  const pads = node.input?.[1] ? ints(node.input[1]) : attributeInts(node, "pads", []);
  const value = node.input?.[2] ? ints(node.input[2]) : [0];
  if (!pads || pads.length !== 8 || attributeString(node, "mode", "constant") !== "constant" || value?.[0] !== 0) return null;
  const [before, after] = [pads[1], pads[5]];
  return pads.every((p, j) => j === 1 || j === 5 || p === 0) && before >= 0 && after >= 0 ? { op: "padchannels", before, after } : null;
}

/** Ops that compute a shape from shapes (and constants) alone, as `x.size(0)` exports. */
const SHAPE_OPS = new Set(["Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Mul", "Div"]);

/**
 * Whether `node` only computes a shape: a Shape of any tensor, or a shape op whose inputs are all shapes or constants
 * (`isShape` tells which tensors are).
 */
export function computesShape(node: NodeProto, isShape: (name: string) => boolean, ints: (name: string | undefined) => number[] | null): boolean {
  if (node.opType === "Shape") return true;
  return SHAPE_OPS.has(node.opType ?? "") && (node.input ?? []).some((i) => isShape(i)) && (node.input ?? []).every((i) => !i || isShape(i) || ints(i) !== null);
}

/**
 * Whether a Reshape of a [C, H, W] or [D] sample flattens it: to a shape computed from shapes (`x.view(x.size(0), -1)`;
 * a linear layer after it then checks the width), or to a constant [−1 or 0 (the batch), C·H·W] or [0, −1].
 */
export function flattens(node: NodeProto, shape: number[], isShape: (name: string) => boolean, ints: (name: string | undefined) => number[] | null): boolean {
  const target = node.input?.[1] ?? "";
  if (isShape(target)) return true;
  const dims = ints(target);
  const width = shape.reduce((a, b) => a * b, 1);
  return dims !== null && dims.length === 2 && (dims[0] === -1 || dims[0] === 0) && (dims[1] === width || (dims[1] === -1 && dims[0] === 0));
}

/** `fc1` from `/fc1/Gemm` or `fc1.weight`, else the module path, else the op's position. */
export function layerName(node: string, weight: string, position: number, opType: string): string {
  const fromWeight = /^(.+)\.weight$/.exec(weight)?.[1];
  if (fromWeight) return fromWeight;
  // The module path, as sites are named (`/layer1/layer1.0/conv1/Conv` → layer1.0.conv1): an exported ResNet's
  // folded convs have no named weights, and the last scope alone (`conv1`) is the same in every block.
  if (node.startsWith("/")) {
    const scope = scopeName(node, opType);
    if (scope) return scope;
  }
  const segments = node.split("/").filter(Boolean);
  return segments.length >= 2 ? segments[segments.length - 2] : `layer${position}`;
}

/**
 * A ReduceMean over both spatial axes of an image [C, H, W] (`x.mean((2, 3))`): whether it keeps them (then it is a
 * global average pool) or drops them (a pool and a flatten); null for any other reduction.
 */
export function spatialMeanOf(node: NodeProto, shape: number[], ints: (name: string | undefined) => number[] | null): { keepdims: boolean } | null {
  // Opset 18 on: the axes are an input; before: an attribute.
  const axes = (node.input?.[1] ? ints(node.input[1]) : attributeInts(node, "axes", [])) ?? [];
  const normal = axes.map((a) => (a < 0 ? a + 4 : a)).sort();
  return shape.length === 3 && normal.length === 2 && normal[0] === 2 && normal[1] === 3 ? { keepdims: attributeInt(node, "keepdims", 1) === 1 } : null;
}
