/**
 * float16 graphs (onnxconverter-common's convert_float_to_float16, with or without keep_io_types; exports of
 * half-precision modules) computed in float32: every float16 (and bfloat16) initializer, Constant, Cast target, dtype
 * attribute and declared input/output becomes float32, and a Cast that now turns float32 into float32 is removed. The values are the float16 values exactly (float32 holds every
 * float16), so the network is the stored one, evaluated without float16's intermediate rounding, which is how
 * onnxruntime's CPU kernels compute most float16 ops anyway. Sites, masks and caches then all work in float32.
 */
import { elementTypes } from "./graph.js";
import { DataType, type GraphProto, type NodeProto, type TensorProto } from "./proto.js";
import { readConst, writeConst } from "./tensorData.js";

const HALF = new Set<number>([DataType.FLOAT16, DataType.BFLOAT16]);

/** Whether the graph stores or computes anything in float16/bfloat16 (initializers, Constants, casts, inputs, outputs). */
export function hasFloat16(graph: GraphProto): boolean {
  if ((graph.initializer ?? []).some((t) => HALF.has(t.dataType ?? 0))) return true;
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) if (HALF.has(info.type?.tensorType?.elemType ?? 0)) return true;
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t && HALF.has(a.t.dataType ?? 0)) return true;
      if ((a.name === "to" || a.name === "dtype") && HALF.has(Number(a.i ?? 0))) return true;
    }
  }
  return false;
}

/** Converts the graph to float32 in place (see the module comment). Returns whether it held any float16. */
export function float16ToFloat32(graph: GraphProto): boolean {
  if (!hasFloat16(graph)) return false;
  const widen = (tensor: TensorProto): TensorProto => {
    if (!HALF.has(tensor.dataType ?? 0)) return tensor;
    const value = readConst(tensor)!;
    const wide = writeConst(tensor.name ?? "", { ...value, type: DataType.FLOAT });
    if (tensor.docString) wide.docString = tensor.docString;
    return wide;
  };
  graph.initializer = (graph.initializer ?? []).map(widen);
  const casts: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) a.t = widen(a.t);
      if (a.tensors && a.tensors.length > 0) a.tensors = a.tensors.map(widen);
      if ((a.name === "to" || a.name === "dtype") && HALF.has(Number(a.i ?? 0))) {
        a.i = DataType.FLOAT;
        if (node.opType === "Cast") casts.push(node);
      }
    }
  }
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    const tensorType = info.type?.tensorType;
    if (tensorType && HALF.has(tensorType.elemType ?? 0)) tensorType.elemType = DataType.FLOAT;
  }
  dropIdentityCasts(graph, casts);
  return true;
}

/**
 * A former Cast-to-float16 of a float32 tensor is now float32 → float32: removed (its readers read its input), so
 * keep_io_types' input Cast neither shifts the positions that unnamed sites are named by nor costs a copy.
 */
function dropIdentityCasts(graph: GraphProto, casts: NodeProto[]): void {
  const types = elementTypes(graph);
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
  const dropped = new Map<string, string>();
  for (const cast of casts) {
    const input = cast.input?.[0] ?? "";
    const output = cast.output?.[0] ?? "";
    if (types.get(input) !== DataType.FLOAT || outputs.has(output)) continue;
    dropped.set(output, dropped.get(input) ?? input);
  }
  if (dropped.size === 0) return;
  graph.node = (graph.node ?? []).filter((n) => !(n.opType === "Cast" && dropped.has(n.output?.[0] ?? "")));
  for (const node of graph.node) node.input = (node.input ?? []).map((i) => dropped.get(i) ?? i);
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !dropped.has(v.name ?? ""));
}
