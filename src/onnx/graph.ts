/** Read-only views of a graph's wiring: who produces and who consumes each tensor, and its real inputs. */
import type { GraphProto, NodeProto } from "./proto.js";

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
