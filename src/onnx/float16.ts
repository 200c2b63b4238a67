/**
 * float16 graphs (onnxconverter-common's convert_float_to_float16, with or without keep_io_types; exports of
 * half-precision modules) computed in float32: every float16 (and bfloat16) initializer, Constant, Cast target, dtype
 * attribute and declared input/output becomes float32. The values are the float16 values exactly (float32 holds every
 * float16), so the network is the stored one, evaluated without float16's intermediate rounding, which is how
 * onnxruntime's CPU kernels compute most float16 ops anyway. Sites, masks and caches then all work in float32.
 */
import { DataType, type GraphProto, type TensorProto } from "./proto.js";
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
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) a.t = widen(a.t);
      if (a.tensors && a.tensors.length > 0) a.tensors = a.tensors.map(widen);
      if ((a.name === "to" || a.name === "dtype") && HALF.has(Number(a.i ?? 0))) a.i = DataType.FLOAT;
    }
  }
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    const tensorType = info.type?.tensorType;
    if (tensorType && HALF.has(tensorType.elemType ?? 0)) tensorType.elemType = DataType.FLOAT;
  }
  return true;
}
