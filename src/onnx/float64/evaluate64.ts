/**
 * A float64 interpreter of ONNX graphs, in JS: what settles near ties on graphs onnxruntime cannot run in float64
 * (it has no double Conv). Initializers are widened exactly (float32 → float64), every node computes in float64,
 * so the logits equal the float64 network's up to float64 rounding (about 1e-16 of the terms' magnitudes summed):
 * the truth a float32 near tie is decided against. Slow (plain loops, one thread: a 16→16-channel 3×3 Conv on 32×32
 * ran at 0.2 GFLOP/s on the busy 2-core development machine; 110–140 ms per image for the CNN fixtures), so callers
 * run only the few rows that need it.
 *
 * `compileFloat64(model)` returns the node ops it has no kernel for (`missing`), or a `run` function. An input or
 * attribute outside what a kernel supports throws `unsupported-op` at run time; callers count such rows as
 * unresolved, never guess.
 */
import { fail } from "../../errors.js";
import { attribute, attributeFloat, attributeInt, attributeInts, attributeString, DataType, defaultOpset, toInt, type ModelProto, type NodeProto } from "../proto.js";
import { isFloatType, readConst } from "../tensorData.js";
import { batchNorm, binary, instanceNorm, layerNorm, concat, gather, where, gemm, matmul, pad, reduce, REDUCTIONS, reshapeDims, slice, softmax, transpose, unary, unsupported } from "./kernels.js";
import { erf, gelu } from "./erf.js";
import { conv, globalAveragePool, globalMaxPool, pool, type WindowAttributes } from "./window.js";
import { normAxis, sizeOf, type Tensor64 } from "./tensor64.js";

export type { Tensor64 } from "./tensor64.js";

type Kernel = (node: NodeProto, inputs: Array<Tensor64 | undefined>, opset: number) => Tensor64[];

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const arith: Record<string, (x: number, y: number) => number> = {
  Add: (x, y) => x + y,
  Sub: (x, y) => x - y,
  Mul: (x, y) => x * y,
  Div: (x, y) => x / y,
  Pow: (x, y) => Math.pow(x, y),
  Max: (x, y) => (x > y || Number.isNaN(x) ? x : y),
  Equal: (x, y) => (x === y ? 1 : 0),
  Greater: (x, y) => (x > y ? 1 : 0),
  Less: (x, y) => (x < y ? 1 : 0),
  Min: (x, y) => (x < y || Number.isNaN(x) ? x : y),
};
const activations: Record<string, (node: NodeProto) => (v: number) => number> = {
  Relu: () => (v) => (v > 0 ? v : v < 0 ? 0 : v),
  LeakyRelu: (node) => { const a = attributeFloat(node, "alpha", 0.01); return (v) => (v >= 0 ? v : a * v); },
  Sigmoid: () => sigmoid,
  Tanh: () => Math.tanh,
  Exp: () => Math.exp,
  Log: () => Math.log,
  Sqrt: () => Math.sqrt,
  Neg: () => (v) => -v,
  Abs: () => Math.abs,
  Not: () => (v) => (v === 0 ? 1 : 0),
  IsNaN: () => (v) => (Number.isNaN(v) ? 1 : 0),
  Elu: (node) => { const a = attributeFloat(node, "alpha", 1); return (v) => (v >= 0 ? v : a * (Math.exp(v) - 1)); },
  Softplus: () => (v) => (v > 30 ? v : Math.log1p(Math.exp(v))),
  HardSigmoid: (node) => { const a = attributeFloat(node, "alpha", 0.2); const b = attributeFloat(node, "beta", 0.5); return (v) => Math.max(0, Math.min(1, a * v + b)); },
  HardSwish: () => (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)),
  Erf: () => erf,
  // Opset 20's Gelu: the erf form, or with approximate = "tanh" the tanh form (as PyTorch's GELU(approximate=...)).
  Gelu: (node) => {
    const tanh = attributeString(node, "approximate", "none") === "tanh";
    return (v) => gelu(v, tanh);
  },
  Mish: () => (v) => v * Math.tanh(v > 30 ? v : Math.log1p(Math.exp(v))),
  Celu: (node) => { const a = attributeFloat(node, "alpha", 1); return (v) => Math.max(0, v) + Math.min(0, a * (Math.exp(v / a) - 1)); },
  ThresholdedRelu: (node) => { const a = attributeFloat(node, "alpha", 1); return (v) => (v > a ? v : 0); },
  Reciprocal: () => (v) => 1 / v,
  Floor: () => Math.floor,
  Ceil: () => Math.ceil,
  Sign: () => (v) => (v > 0 ? 1 : v < 0 ? -1 : v),
  Selu: (node) => {
    const a = attributeFloat(node, "alpha", 1.67326319217681884765625);
    const g = attributeFloat(node, "gamma", 1.05070102214813232421875);
    return (v) => (v > 0 ? g * v : g * a * (Math.exp(v) - 1));
  },
};

function window(node: NodeProto, kernel: number[]): WindowAttributes {
  return {
    kernel,
    strides: attributeInts(node, "strides", []),
    pads: attributeInts(node, "pads", []),
    dilations: attributeInts(node, "dilations", []),
    autoPad: attributeString(node, "auto_pad", "NOTSET"),
    ceilMode: attributeInt(node, "ceil_mode", 0) === 1,
  };
}

const ints = (t: Tensor64 | undefined) => (t ? Array.from(t.data) : []);
const need = (t: Tensor64 | undefined, op: string): Tensor64 => t ?? unsupported(op, "a missing input");
const identity: Kernel = (_n, [x]) => [need(x, "Identity")];

const KERNELS: Record<string, Kernel> = {
  ...Object.fromEntries(Object.entries(arith).map(([op, f]) => [op, ((_n, [a, b]) => [binary(need(a, op), need(b, op), f, op)]) as Kernel])),
  ...Object.fromEntries(Object.entries(activations).map(([op, f]) => [op, ((n, [x]) => [unary(need(x, op), f(n))]) as Kernel])),
  // Axes: an attribute until opset 13 (ReduceSum) or 18 (the others), then an optional input; none reduces every axis
  // unless noop_with_empty_axes asks for the input unchanged.
  ...Object.fromEntries(
    Object.entries(REDUCTIONS).map(([op, reduction]) => [
      op,
      ((n, [x, axesInput], opset) => {
        const t = need(x, op);
        const axes = opset >= (op === "ReduceSum" ? 13 : 18) ? ints(axesInput) : attributeInts(n, "axes", []);
        if (axes.length === 0 && attributeInt(n, "noop_with_empty_axes", 0) === 1) return [t];
        return [reduce(t, axes, attributeInt(n, "keepdims", 1) === 1, reduction, op)];
      }) as Kernel,
    ]),
  ),
  Where: (_n, [c, x, y]) => [where(need(c, "Where"), need(x, "Where"), need(y, "Where"))],
  // PyTorch's nn.PReLU: a learnt slope per channel (or one), broadcast to x as ONNX's unidirectional broadcast.
  PRelu: (_n, [x, slope]) => [binary(need(x, "PRelu"), need(slope, "PRelu"), (v, a) => (v < 0 ? a * v : v), "PRelu")],
  // Variadic elementwise ops, left to right (Sum of three: (a + b) + c, as onnxruntime adds them).
  Sum: (_n, xs) => [xs.map((x) => need(x, "Sum")).reduce((a, b) => binary(a, b, arith.Add, "Sum"))],
  Mean: (_n, xs) => {
    const terms = xs.map((x) => need(x, "Mean"));
    const sum = terms.reduce((a, b) => binary(a, b, arith.Add, "Mean"));
    return [unary(sum, (v) => v / terms.length)];
  },
  GlobalMaxPool: (_n, [x]) => [globalMaxPool(need(x, "GlobalMaxPool"))],
  Pad: (n, [x, padsInput, valueInput], opset) => {
    const pads = opset >= 11 ? ints(need(padsInput, "Pad")) : attributeInts(n, "pads", []);
    const value = opset >= 11 ? (valueInput && valueInput.data.length > 0 ? valueInput.data[0] : 0) : attributeFloat(n, "value", 0);
    const mode = attributeString(n, "mode", "constant");
    if (mode !== "constant" && mode !== "reflect" && mode !== "edge") unsupported("Pad", `mode ${mode}`);
    return [pad(need(x, "Pad"), pads, mode, value)];
  },
  Identity: identity,
  Dropout: identity,
  Clip: (n, [x, lo, hi], opset) => {
    const min = opset >= 11 ? (lo ? lo.data[0] : -Infinity) : attributeFloat(n, "min", -Infinity);
    const max = opset >= 11 ? (hi ? hi.data[0] : Infinity) : attributeFloat(n, "max", Infinity);
    return [unary(need(x, "Clip"), (v) => Math.min(Math.max(v, min), max))];
  },
  Conv: (n, [x, w, b]) => [conv(need(x, "Conv"), need(w, "Conv"), b, attributeInt(n, "group", 1), window(n, attributeInts(n, "kernel_shape", [])))],
  MaxPool: (n, [x]) => {
    if (n.output!.length > 1 && n.output![1]) unsupported("MaxPool", "an Indices output");
    return [pool(need(x, "MaxPool"), "max", window(n, attributeInts(n, "kernel_shape", [])), false)];
  },
  AveragePool: (n, [x]) => [pool(need(x, "AveragePool"), "average", window(n, attributeInts(n, "kernel_shape", [])), attributeInt(n, "count_include_pad", 0) === 1)],
  GlobalAveragePool: (_n, [x]) => [globalAveragePool(need(x, "GlobalAveragePool"))],
  Gemm: (n, [a, b, c]) => [gemm(need(a, "Gemm"), need(b, "Gemm"), c, attributeFloat(n, "alpha", 1), attributeFloat(n, "beta", 1), attributeInt(n, "transA", 0) === 1, attributeInt(n, "transB", 0) === 1)],
  MatMul: (_n, [a, b]) => [matmul(need(a, "MatMul"), need(b, "MatMul"))],
  BatchNormalization: (n, [x, scale, bias, mean, variance]) => {
    if (attributeInt(n, "training_mode", 0) === 1) unsupported("BatchNormalization", "training_mode=1");
    return [batchNorm(need(x, "BatchNormalization"), need(scale, "BatchNormalization"), need(bias, "BatchNormalization"), need(mean, "BatchNormalization"), need(variance, "BatchNormalization"), attributeFloat(n, "epsilon", 1e-5))];
  },
  // GroupNorm and InstanceNorm export as it (a trial's model left 21 near ties unsettled for want of it).
  InstanceNormalization: (n, [x, scale, bias]) => [instanceNorm(need(x, "InstanceNormalization"), need(scale, "InstanceNormalization"), need(bias, "InstanceNormalization"), attributeFloat(n, "epsilon", 1e-5))],
  LayerNormalization: (n, [x, scale, bias]) => [layerNorm(need(x, "LayerNormalization"), need(scale, "LayerNormalization"), bias, attributeInt(n, "axis", -1), attributeFloat(n, "epsilon", 1e-5))],
  Softmax: (n, [x], opset) => [softmax(need(x, "Softmax"), attributeInt(n, "axis", opset >= 13 ? -1 : 1), opset < 13, false)],
  LogSoftmax: (n, [x], opset) => [softmax(need(x, "LogSoftmax"), attributeInt(n, "axis", opset >= 13 ? -1 : 1), opset < 13, true)],
  Flatten: (n, [x]) => {
    const t = need(x, "Flatten");
    const a = normAxis(attributeInt(n, "axis", 1), t.dims.length);
    return [{ ...t, dims: [sizeOf(t.dims.slice(0, a)), sizeOf(t.dims.slice(a))] }];
  },
  Reshape: (n, [x, shape]) => {
    const t = need(x, "Reshape");
    return [{ ...t, dims: reshapeDims(t.dims, ints(need(shape, "Reshape")), attributeInt(n, "allowzero", 0) === 1) }];
  },
  Transpose: (n, [x]) => [transpose(need(x, "Transpose"), attributeInts(n, "perm", []))],
  Concat: (n, xs) => [concat(xs.map((x) => need(x, "Concat")), attributeInt(n, "axis", 0))],
  Shape: (n, [x]) => {
    const dims = need(x, "Shape").dims;
    const norm = (v: number) => Math.min(Math.max(v < 0 ? v + dims.length : v, 0), dims.length);
    const part = dims.slice(norm(attributeInt(n, "start", 0)), norm(attributeInt(n, "end", dims.length)));
    return [{ dims: [part.length], data: Float64Array.from(part), integer: true }];
  },
  Gather: (n, [x, indices]) => [gather(need(x, "Gather"), need(indices, "Gather"), attributeInt(n, "axis", 0))],
  // A ViT's class token: `cls.expand(batch, -1, -1)` exports as ConstantOfShape/Expand on the batch size.
  Expand: (_n, [x, shape]) => {
    const t = need(x, "Expand");
    const target = ints(need(shape, "Expand"));
    return [{ ...binary(t, { dims: target, data: new Float64Array(sizeOf(target)) }, (v) => v, "Expand"), integer: t.integer }];
  },
  ConstantOfShape: (n, [shape]) => {
    const dims = ints(need(shape, "ConstantOfShape"));
    const value = attribute(n, "value")?.t;
    const c = value ? readConst(value) : null;
    if (value && !c) unsupported("ConstantOfShape", "a value lesion cannot read");
    return [{ dims, data: new Float64Array(sizeOf(dims)).fill(c ? c.values[0] : 0), integer: c ? !isFloatType(c.type) : false }];
  },
  Slice: (n, [x, starts, ends, axes, steps], opset) =>
    opset >= 10
      ? [slice(need(x, "Slice"), ints(starts), ints(ends), ints(axes), ints(steps))]
      : [slice(need(x, "Slice"), attributeInts(n, "starts", []), attributeInts(n, "ends", []), attributeInts(n, "axes", []), [])],
  // A transformer's qkv.split / chunk (a trial's Mixer left 225 ties unsettled for want of it): the sizes as an input
  // from opset 13, an attribute before; without them, equal parts (opset 18's num_outputs: the last one smaller).
  Split: (n, [x, splitInput], opset) => {
    const t = need(x, "Split");
    const axis = normAxis(attributeInt(n, "axis", 0), t.dims.length);
    const count = (n.output ?? []).length;
    let sizes = opset >= 13 ? (splitInput ? ints(splitInput) : []) : attributeInts(n, "split", []);
    if (sizes.length === 0) {
      const part = Math.ceil(t.dims[axis] / count);
      sizes = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(part, t.dims[axis] - i * part)));
    }
    let from = 0;
    return sizes.map((size) => slice(t, [from], [(from += size)], [axis], [1]));
  },
  Unsqueeze: (n, [x, axesInput], opset) => {
    const t = need(x, "Unsqueeze");
    const axes = opset >= 13 ? ints(axesInput) : attributeInts(n, "axes", []);
    const rank = t.dims.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, rank)));
    const dims: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) dims.push(set.has(i) ? 1 : t.dims[j++]);
    return [{ ...t, dims }];
  },
  Squeeze: (n, [x, axesInput], opset) => {
    const t = need(x, "Squeeze");
    const axes = (opset >= 13 ? ints(axesInput) : attributeInts(n, "axes", [])).map((a) => normAxis(a, t.dims.length));
    return [{ ...t, dims: t.dims.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1)) }];
  },
  Cast: (n, [x]) => {
    const t = need(x, "Cast");
    const to = attributeInt(n, "to", DataType.FLOAT);
    if (isFloatType(to)) return [{ dims: t.dims, data: t.data }];
    if (to === DataType.INT64 || to === DataType.INT32) return [{ dims: t.dims, data: t.data.map(Math.trunc), integer: true }];
    // NaN is not zero, so it casts to true, as in onnxruntime.
    if (to === DataType.BOOL) return [{ dims: t.dims, data: t.data.map((v) => (v !== 0 ? 1 : 0)), integer: true }];
    return unsupported("Cast", `to type ${to}`);
  },
  Constant: (n) => {
    const value = attribute(n, "value");
    const c = value?.t ? readConst(value.t) : null;
    if (c) return [{ dims: c.dims, data: c.values, integer: !isFloatType(c.type) }];
    const f = attribute(n, "value_float");
    if (f && typeof f.f === "number") return [{ dims: [], data: Float64Array.of(f.f) }];
    const fs = attribute(n, "value_floats");
    if (fs?.floats?.length) return [{ dims: [fs.floats.length], data: Float64Array.from(fs.floats) }];
    const i = attribute(n, "value_int");
    if (i && i.i !== undefined && i.i !== null) return [{ dims: [], data: Float64Array.of(toInt(i.i)), integer: true }];
    const is = attribute(n, "value_ints");
    if (is?.ints?.length) return [{ dims: [is.ints.length], data: Float64Array.from(is.ints.map(toInt)), integer: true }];
    return unsupported("Constant", "a value lesion cannot read");
  },
};

/** The ops this interpreter can compute in float64. */
export const FLOAT64_OPS: readonly string[] = Object.keys(KERNELS).sort();

export interface Float64Graph {
  /** Runs the graph on `feeds` (graph input name → tensor; batch in the first dim) and returns its `outputs`. */
  run(feeds: Record<string, Tensor64>): Record<string, Tensor64>;
}

/**
 * Prepares the part of `model` that computes `outputs` for float64 evaluation: initializers read once and widened
 * exactly. Returns the op types it has no kernel for (sorted, de-duplicated) instead of a graph when there are any;
 * nodes of a non-default domain count as missing. Throws `unsupported-op` for an initializer it cannot read.
 */
export function compileFloat64(model: ModelProto, outputs: readonly string[]): { graph: Float64Graph; missing: [] } | { graph: null; missing: string[] } {
  const graph = model.graph!;
  const opset = defaultOpset(model);
  const nodes = neededNodes(graph.node ?? [], outputs);
  const missing = missingOps(nodes);
  if (missing.length > 0) return { graph: null, missing };
  const constants = new Map<string, Tensor64>();
  for (const tensor of graph.initializer ?? []) {
    const c = readConst(tensor);
    if (!c) fail("unsupported-op", `initializer ${tensor.name} has a type the float64 interpreter cannot read`, { tensor: tensor.name ?? undefined });
    constants.set(tensor.name!, { dims: c.dims, data: c.values, integer: !isFloatType(c.type) });
  }
  return {
    missing: [],
    graph: {
      run(feeds) {
        const values = new Map<string, Tensor64>(constants);
        for (const [name, t] of Object.entries(feeds)) values.set(name, t);
        // Free a tensor after its last reader: CNN activations of a batch add up.
        const lastUse = new Map<string, number>();
        nodes.forEach((n, i) => (n.input ?? []).forEach((t) => lastUse.set(t, i)));
        const keep = new Set([...outputs, ...constants.keys()]);
        nodes.forEach((node, i) => {
          const inputs = (node.input ?? []).map((t) => (t === "" ? undefined : values.get(t) ?? fail("bad-model", `tensor ${t} is read before it is computed`, { name: graph.name ?? "model", tensor: t })));
          const result = KERNELS[node.opType!](node, inputs, opset);
          (node.output ?? []).forEach((name, j) => {
            if (name && result[j]) values.set(name, result[j]);
          });
          for (const t of node.input ?? []) if (lastUse.get(t) === i && !keep.has(t)) values.delete(t);
        });
        return Object.fromEntries(outputs.map((name) => [name, values.get(name) ?? fail("bad-model", `graph output ${name} is not computed`, { name: graph.name ?? "model", tensor: name })]));
      },
    },
  };
}

/**
 * The op types among the nodes `outputs` depend on that this interpreter has no kernel for (sorted, de-duplicated;
 * a non-default domain's as "domain.Op"), without reading the initializers: what a warning about unresolved ties names.
 */
export function float64MissingOps(model: ModelProto, outputs: readonly string[]): string[] {
  return missingOps(neededNodes(model.graph?.node ?? [], outputs));
}

function missingOps(nodes: readonly NodeProto[]): string[] {
  return [...new Set(nodes.filter((n) => (n.domain && n.domain !== "ai.onnx") || !KERNELS[n.opType ?? ""]).map((n) => `${n.domain ? `${n.domain}.` : ""}${n.opType}`))].sort();
}

/** The nodes `outputs` depend on, in graph order. */
function neededNodes(nodes: readonly NodeProto[], outputs: readonly string[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const needed = new Set<NodeProto>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const n = producer.get(stack.pop()!);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    stack.push(...(n.input ?? []).filter(Boolean));
  }
  return nodes.filter((n) => needed.has(n));
}
