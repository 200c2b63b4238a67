/**
 * Constant folding: a node whose inputs are all initializers or Constant outputs computes the same value for every
 * sample, so it is evaluated once, with ONNX's semantics, and replaced by an initializer of the same name. Exporters
 * leave such nodes in front of weights (a Reshape or Transpose of a stored weight in CNTK/Keras exports, a Cast of
 * float16 weights, DequantizeLinear of int8 weights); folded, every layer reads its weight as an initializer, so
 * sites are found behind it and a suffix graph cut at a site never takes a weight for a per-sample activation.
 *
 * Arithmetic follows onnxruntime's CPU kernels: float32 results are the float64 result rounded once (exact for
 * + − × ÷, whose float64 results of float32 operands round correctly), integer Div truncates, Cast to an integer
 * truncates toward zero.
 */
import { indexGraph } from "./graph.js";
import { attribute, attributeInt, attributeInts, type GraphProto, type NodeProto } from "./proto.js";
import { isFloatType, isNumericType, readConst, roundTo, writeConst, type ConstTensor } from "./tensorData.js";

/** Folded outputs larger than this many elements stay nodes (a broadcast Mul could otherwise blow up a file). */
const MAX_ELEMENTS = 1 << 26;

type Fold = (inputs: ConstTensor[], node: NodeProto) => ConstTensor | null;

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

const FOLDS: Record<string, Fold> = {
  Identity: ([x]) => x,
  Cast: ([x], node) => {
    const to = attributeInt(node, "to", 0);
    if (!isNumericType(to)) return null;
    return { type: to, dims: x.dims, values: x.values.map((v) => roundTo(to, v)) };
  },
  Reshape: ([x, shape], node) => {
    if (!shape) return null;
    const allowzero = attributeInt(node, "allowzero", 0) === 1;
    const dims = Array.from(shape.values, (d, i) => (d === 0 && !allowzero ? x.dims[i] : d));
    const unknown = dims.indexOf(-1);
    if (unknown >= 0) {
      const known = size(dims.filter((_, i) => i !== unknown));
      if (known === 0) return null;
      dims[unknown] = x.values.length / known;
    }
    if (dims.some((d) => !Number.isInteger(d) || d < 0) || size(dims) !== x.values.length) return null;
    return { type: x.type, dims, values: x.values };
  },
  Flatten: ([x], node) => {
    const axis = normAxis(attributeInt(node, "axis", 1), x.dims.length);
    return { type: x.type, dims: [size(x.dims.slice(0, axis)), size(x.dims.slice(axis))], values: x.values };
  },
  Squeeze: ([x, axesInput], node) => {
    const given = axesInput ? Array.from(axesInput.values) : attributeInts(node, "axes", []);
    const axes = given.map((a) => normAxis(a, x.dims.length));
    const dims = x.dims.filter((d, i) => (axes.length === 0 ? d !== 1 : !axes.includes(i)));
    return { type: x.type, dims, values: x.values };
  },
  Unsqueeze: ([x, axesInput], node) => {
    const given = axesInput ? Array.from(axesInput.values) : attributeInts(node, "axes", []);
    const rank = x.dims.length + given.length;
    const axes = new Set(given.map((a) => normAxis(a, rank)));
    const rest = [...x.dims];
    const dims = Array.from({ length: rank }, (_, i) => (axes.has(i) ? 1 : rest.shift()!));
    return { type: x.type, dims, values: x.values };
  },
  Transpose: ([x], node) => {
    const rank = x.dims.length;
    const perm = attributeInts(node, "perm", Array.from({ length: rank }, (_, i) => rank - 1 - i));
    const dims = perm.map((p) => x.dims[p]);
    const inStrides = strides(x.dims);
    return { type: x.type, dims, values: gather(x, dims, 0, perm.map((p) => inStrides[p])) };
  },
  Concat: (inputs, node) => {
    const rank = inputs[0].dims.length;
    const axis = normAxis(attributeInt(node, "axis", 0), rank);
    const outer = size(inputs[0].dims.slice(0, axis));
    const dims = [...inputs[0].dims];
    dims[axis] = inputs.reduce((a, t) => a + t.dims[axis], 0);
    const values = new Float64Array(size(dims));
    let at = 0;
    for (let o = 0; o < outer; o++) {
      for (const t of inputs) {
        const chunk = size(t.dims.slice(axis));
        values.set(t.values.subarray(o * chunk, (o + 1) * chunk), at);
        at += chunk;
      }
    }
    return { type: inputs[0].type, dims, values };
  },
  // torch.onnx computes F.pad's pads from constants with these two (the CIFAR ResNets' option A shortcut).
  ConstantOfShape: ([shape], node) => {
    const value = attribute(node, "value")?.t;
    const fill = value ? readConst(value) : null;
    const dims = Array.from(shape.values);
    if (dims.some((d) => !Number.isInteger(d) || d < 0) || size(dims) > MAX_ELEMENTS) return null;
    return { type: fill?.type ?? 1, dims, values: new Float64Array(size(dims)).fill(fill?.values[0] ?? 0) };
  },
  Slice: ([x, starts, ends, axesGiven, stepsGiven]) => {
    if (!starts || !ends) return null;
    const rank = x.dims.length;
    const begin = x.dims.map(() => 0);
    const step = x.dims.map(() => 1);
    const dims = [...x.dims];
    Array.from(starts.values).forEach((start, j) => {
      const axis = normAxis(axesGiven ? axesGiven.values[j] : j, rank);
      const d = x.dims[axis];
      const s = stepsGiven ? stepsGiven.values[j] : 1;
      if (s === 0) throw new Error("Slice step 0");
      const at = (v: number) => (v < 0 ? v + d : v);
      const clamp = (v: number, low: number, high: number) => Math.min(Math.max(v, low), high);
      // ONNX's clamping: [0, d] for a positive step, [0, d − 1] and [−1, d − 1] (start, end) for a negative one.
      const b = s > 0 ? clamp(at(start), 0, d) : clamp(at(start), 0, d - 1);
      const e = s > 0 ? clamp(at(ends.values[j]), 0, d) : clamp(at(ends.values[j]), -1, d - 1);
      begin[axis] = b;
      step[axis] = s;
      dims[axis] = Math.max(0, Math.ceil((e - b) / s));
    });
    const inStrides = strides(x.dims);
    const offset = begin.reduce((sum, b, a) => sum + b * inStrides[a], 0);
    return { type: x.type, dims, values: gather(x, dims, offset, step.map((st, a) => st * inStrides[a])) };
  },
  Neg: ([x]) => ({ type: x.type, dims: x.dims, values: x.values.map((v) => -v) }),
  Add: (inputs) => elementwise(inputs, (a, b) => a + b),
  Sub: (inputs) => elementwise(inputs, (a, b) => a - b),
  Mul: (inputs) => elementwise(inputs, (a, b) => a * b),
  Div: (inputs) => elementwise(inputs, (a, b) => a / b),
  DequantizeLinear: ([x, scale, zero], node) => {
    if (attributeInt(node, "block_size", 0) !== 0) return null;
    const perAxis = scale.values.length > 1 || scale.dims.length === 1;
    const axis = normAxis(attributeInt(node, "axis", 1), x.dims.length);
    const inner = size(x.dims.slice(axis + 1));
    const channels = x.dims[axis] ?? 1;
    const values = x.values.map((v, i) => {
      const c = perAxis ? Math.floor(i / inner) % channels : 0;
      return roundTo(scale.type, (v - (zero ? zero.values[c] : 0)) * scale.values[c]);
    });
    return { type: scale.type, dims: x.dims, values };
  },
};

/** The ops `foldConstants` evaluates. */
export const FOLDABLE_OPS: ReadonlySet<string> = new Set(Object.keys(FOLDS));

function strides(dims: readonly number[]): number[] {
  const result = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    result[i] = s;
    s *= dims[i];
  }
  return result;
}

/** An output of shape `dims` (row-major) whose element at index (i_0, i_1, …) is x's at offset + Σ_a i_a·step[a]. */
function gather(x: ConstTensor, dims: readonly number[], offset: number, step: readonly number[]): Float64Array {
  const outStrides = strides(dims);
  const values = new Float64Array(size(dims));
  for (let o = 0; o < values.length; o++) {
    let rest = o;
    let from = offset;
    for (let a = 0; a < dims.length; a++) {
      const i = Math.floor(rest / outStrides[a]);
      rest -= i * outStrides[a];
      from += i * step[a];
    }
    values[o] = x.values[from];
  }
  return values;
}

/** numpy broadcasting of two tensors, the result rounded to the first input's type (ONNX requires equal types). */
function elementwise([a, b]: ConstTensor[], op: (x: number, y: number) => number): ConstTensor | null {
  if (!b || a.type !== b.type) return null;
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...Array(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims = da.map((x, i) => (x === db[i] ? x : x === 1 ? db[i] : db[i] === 1 ? x : -1));
  if (dims.includes(-1) || size(dims) > MAX_ELEMENTS) return null;
  const sa = strides(da).map((s, i) => (da[i] === 1 ? 0 : s));
  const sb = strides(db).map((s, i) => (db[i] === 1 ? 0 : s));
  const so = strides(dims);
  const integer = !isFloatType(a.type);
  const values = new Float64Array(size(dims));
  for (let o = 0; o < values.length; o++) {
    let rest = o;
    let ia = 0;
    let ib = 0;
    for (let k = 0; k < rank; k++) {
      const i = Math.floor(rest / so[k]);
      rest -= i * so[k];
      ia += i * sa[k];
      ib += i * sb[k];
    }
    const v = op(a.values[ia], b.values[ib]);
    values[o] = integer ? Math.trunc(v) + 0 : roundTo(a.type, v);
  }
  return { type: a.type, dims, values };
}

/**
 * Folds, in place and in graph order, every node of a FOLDABLE_OPS op whose inputs are all constant, so folds chain
 * (Cast then Transpose then Reshape). Each folded output becomes an initializer of the same name; initializers and
 * Constant nodes that only folded nodes read are removed. Outputs of the graph are never folded away.
 * Returns the number of nodes folded.
 */
export function foldConstants(graph: GraphProto): number {
  const index = indexGraph(graph);
  const outputs = new Set(index.outputs);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name ?? ""));
  const known = new Map<string, ConstTensor | null>();
  // `saturate`: a Slice's starts and ends, whose INT64_MAX "to the end" readConst otherwise refuses as inexact.
  const constant = (name: string, saturate = false): ConstTensor | null => {
    const key = saturate ? `${name}\u0000saturated` : name;
    if (known.has(key)) return known.get(key)!;
    let value: ConstTensor | null = null;
    const tensor = initializers.get(name);
    // An initializer that is also a graph input may be overridden by the caller: not a constant.
    if (tensor && !graphInputs.has(name)) value = readConst(tensor, saturate);
    else if (!tensor) {
      const producer = index.producer.get(name);
      const t = producer?.opType === "Constant" ? attribute(producer, "value")?.t : undefined;
      if (t) value = readConst(t, saturate);
      else if (saturate) value = constant(name);
    }
    known.set(key, value);
    return value;
  };
  const folded = new Set<NodeProto>();
  const added: ReturnType<typeof writeConst>[] = [];
  const readers = new Set<string>();
  for (const node of graph.node ?? []) {
    const op = node.opType ?? "";
    if (!FOLDS[op] || (node.domain && node.domain !== "ai.onnx") || (node.output ?? []).length !== 1) continue;
    const output = node.output![0];
    if (outputs.has(output)) continue;
    const names = (node.input ?? []).map((n) => n ?? "");
    if (names.length === 0 || names[0] === "") continue;
    const inputs = names.map((n, k) => (n === "" ? null : constant(n, op === "Slice" && (k === 1 || k === 2))));
    if (inputs.some((v, i) => v === null && names[i] !== "")) continue;
    let result: ConstTensor | null;
    try {
      result = FOLDS[op](inputs as ConstTensor[], node);
    } catch {
      result = null;
    }
    if (!result || result.values.length > MAX_ELEMENTS) continue;
    known.set(output, result);
    folded.add(node);
    for (const n of names) if (n) readers.add(n);
    added.push(writeConst(output, result));
  }
  if (folded.size === 0) return 0;
  const kept = (graph.node ?? []).filter((n) => !folded.has(n));
  const stillRead = new Set([...kept.flatMap((n) => n.input ?? []), ...outputs]);
  const dead = new Set([...readers, ...added.map((t) => t.name ?? "")].filter((name) => !stillRead.has(name)));
  graph.node = kept.filter((n) => !(n.opType === "Constant" && (n.output ?? []).every((o) => dead.has(o))));
  // Intermediate folded values (a Cast feeding a folded Transpose) are dead too.
  graph.initializer = [...(graph.initializer ?? []), ...added].filter((t) => !dead.has(t.name ?? "") && (stillRead.has(t.name ?? "") || !added.includes(t)));
  graph.input = (graph.input ?? []).filter((i) => !dead.has(i.name ?? "") || !initializers.has(i.name ?? ""));
  // Shapes the exporter recorded for folded tensors stay true, but a value info for a now-initializer is noise.
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !known.has(v.name ?? "") || !added.some((t) => t.name === v.name));
  return folded.size;
}
