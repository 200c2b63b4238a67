/** Read-only views of a graph's wiring: who produces and who consumes each tensor, and its real inputs. */
import type { GraphProto, NodeProto, TensorProto } from "./proto.js";

export interface GraphIndex {
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  initializers: Set<string>;
  /** Graph inputs that are not initializers: what the caller feeds. */
  inputs: string[];
  outputs: string[];
}

export function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) producer.set(output, node);
    for (const input of node.input ?? []) {
      if (!input) continue;
      const list = consumers.get(input);
      if (list) list.push(node);
      else consumers.set(input, [node]);
    }
  }
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ""));
  // Constant nodes count as initializers: their values are fixed.
  for (const node of graph.node ?? []) if (node.opType === "Constant") for (const o of node.output ?? []) initializers.add(o);
  const inputs = (graph.input ?? []).map((i) => i.name ?? "").filter((name) => !initializers.has(name));
  const outputs = (graph.output ?? []).map((o) => o.name ?? "");
  return { producer, consumers, initializers, inputs, outputs };
}

/** Every constant of the graph by tensor name: its initializers and the values of its Constant nodes. */
export function constantTensors(graph: GraphProto): Map<string, TensorProto> {
  const constants = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  for (const node of graph.node ?? []) {
    const value = node.opType === "Constant" ? node.attribute?.find((a) => a.name === "value")?.t : undefined;
    if (value && node.output?.[0]) constants.set(node.output[0], value);
  }
  return constants;
}

/** Nodes that depend, directly or not, on any of `tensors`, in graph (topological) order. */
export function downstreamNodes(graph: GraphProto, tensors: Iterable<string>): NodeProto[] {
  const reached = new Set(tensors);
  const result: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    if ((node.input ?? []).some((input) => reached.has(input))) {
      result.push(node);
      for (const output of node.output ?? []) reached.add(output);
    }
  }
  return result;
}

/** Ops whose output is int64 whatever their input. */
const INT64_OPS = new Set(["Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression"]);
/** Ops whose output is bool. */
const BOOL_OPS = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"]);

/**
 * The element type of every tensor, propagated forward: declared inputs, initializers and Constants, then per node
 * the op's fixed type (Shape → int64, Cast → its `to`) or its first input's. Enough to declare extra graph outputs
 * with their true type; tensors it cannot tell are left out.
 */
export function elementTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const info of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
    const type = info.type?.tensorType?.elemType;
    if (info.name && type) types.set(info.name, type);
  }
  for (const t of graph.initializer ?? []) if (t.name && t.dataType) types.set(t.name, t.dataType);
  for (const node of graph.node ?? []) {
    const op = node.opType ?? "";
    const attribute = (name: string) => (node.attribute ?? []).find((a) => a.name === name);
    let type: number | undefined;
    if (INT64_OPS.has(op)) type = 7;
    else if (BOOL_OPS.has(op)) type = 9;
    else if (op === "Cast") type = Number(attribute("to")?.i ?? 0) || undefined;
    else if (op === "Constant") type = attribute("value")?.t?.dataType ?? undefined;
    else type = types.get(node.input?.[0] ?? "");
    if (type) for (const output of node.output ?? []) if (output && !types.has(output)) types.set(output, type);
  }
  return types;
}
