/**
 * Graph surgery. Ablation is a mask at a site, fed as a graph input (x' = x·mask + offset, per row; exactly the
 * offset where the mask is 0, even for a non-finite x), so the intact and every ablated condition run through one
 * graph and one session; recording adds graph outputs; a suffix graph starts at a site so cached activations are
 * never recomputed upstream.
 */
import { fail } from "../errors.js";
import { downstreamNodes, elementTypes, indexGraph } from "./graph.js";
import { cloneModel, DataType, makeNode, makeValueInfo, tensorValues, valueInfoElemType, type ModelProto, type NodeProto, type TensorProto } from "./proto.js";

export interface MaskTarget {
  /** Site name; the mask and offset inputs are named after it. */
  name: string;
  tensor: string;
  /** Rank of the site tensor, batch axis included. */
  rank: number;
  /** Units on the unit axis (axis 1: the last axis of [N, D], the channel axis of NCHW). */
  units: number;
}

export const maskInputName = (site: string) => `lesion.mask.${site}`;
export const offsetInputName = (site: string) => `lesion.offset.${site}`;

/** The shape of a site's mask and offset: one row per batch row, units on axis 1, ones elsewhere. */
export function maskShape(target: MaskTarget, rows: number | string = "batch"): Array<number | string> {
  return [rows, target.units, ...Array(Math.max(0, target.rank - 2)).fill(1)];
}

/** Adds `x·mask + offset` right after each target tensor; consumers and graph outputs see the masked value. */
export function withMasks(model: ModelProto, targets: readonly MaskTarget[]): ModelProto {
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const index = indexGraph(graph);
  for (const target of targets) {
    const producer = index.producer.get(target.tensor);
    if (!producer) fail("bad-model", `site ${target.name} has no producing node`, { site: target.name });
    const raw = `${target.tensor}::raw`;
    producer.output = producer.output!.map((o) => (o === target.tensor ? raw : o));
    insertAfter(graph.node!, producer, maskNodes(target, raw, target.tensor));
    graph.input!.push(makeValueInfo(maskInputName(target.name), DataType.FLOAT, maskShape(target)));
    graph.input!.push(makeValueInfo(offsetInputName(target.name), DataType.FLOAT, maskShape(target)));
  }
  graph.valueInfo = [];
  return copy;
}

/**
 * `Where(mask ≠ 0, x·mask, mask) + offset`: where the mask is 0 the unit's value is exactly 0 before the offset, even
 * when x is NaN or infinite (non-finite weights), where x·mask would leave NaN; elsewhere it is x·mask as before.
 */
function maskNodes(target: MaskTarget, from: string, to: string): NodeProto[] {
  const mask = maskInputName(target.name);
  const keep = `${target.tensor}::keep`;
  const scaled = `${target.tensor}::scaled`;
  const masked = `${target.tensor}::masked`;
  return [
    makeNode("Cast", [mask], [keep], `lesion/mask/${target.name}/Cast`, { to: DataType.BOOL }),
    makeNode("Mul", [from, mask], [scaled], `lesion/mask/${target.name}/Mul`),
    makeNode("Where", [keep, scaled, mask], [masked], `lesion/mask/${target.name}/Where`),
    makeNode("Add", [masked, offsetInputName(target.name)], [to], `lesion/mask/${target.name}/Add`),
  ];
}

function insertAfter(nodes: NodeProto[], anchor: NodeProto, added: NodeProto[]): void {
  nodes.splice(nodes.indexOf(anchor) + 1, 0, ...added);
}

/** Adds graph outputs for the given tensors (float, shape left to the runtime). */
export function withOutputs(model: ModelProto, tensors: readonly string[]): ModelProto {
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  const types = elementTypes(graph);
  for (const tensor of tensors) if (!existing.has(tensor)) graph.output!.push(makeValueInfo(tensor, types.get(tensor) ?? DataType.FLOAT, null));
  return copy;
}

export interface SuffixModel {
  model: ModelProto;
  /** Tensors the suffix reads from upstream (the site tensor first): cache these from a full run. */
  inputs: string[];
}

/**
 * The part of the graph downstream of a site, masked at the site. Its inputs are the site tensor and any other
 * upstream tensor the downstream nodes read (a residual branch). Returns null when an input is not float, which the
 * caller treats as "run the whole graph instead".
 */
export function suffixModel(model: ModelProto, target: MaskTarget, shapes: ReadonlyMap<string, readonly number[]>): SuffixModel | null {
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const index = indexGraph(graph);
  const downstream = downstreamNodes(graph, [target.tensor]);
  const produced = new Set(downstream.flatMap((n) => n.output ?? []));
  const outputs = (graph.output ?? []).filter((o) => produced.has(o.name ?? ""));
  if (outputs.length !== (graph.output ?? []).length) return null;
  const constantNodes: NodeProto[] = [];
  const cut: string[] = [target.tensor];
  const usedInitializers = new Set<string>();
  for (const node of downstream) {
    for (const input of node.input ?? []) {
      if (!input || produced.has(input) || cut.includes(input)) continue;
      if (index.initializers.has(input)) {
        usedInitializers.add(input);
        const constant = index.producer.get(input);
        if (constant && !constantNodes.includes(constant)) constantNodes.push(constant);
      } else cut.push(input);
    }
  }
  if (cut.some((tensor) => !shapes.has(tensor))) return null;
  const inputName = `${target.tensor}::in`;
  const rename = (name: string) => (name === target.tensor ? inputName : name);
  const masked = maskNodes(target, inputName, target.tensor);
  graph.node = [...constantNodes, ...masked, ...downstream];
  graph.initializer = (graph.initializer ?? []).filter((t) => usedInitializers.has(t.name ?? ""));
  graph.input = [
    ...cut.map((tensor) => makeValueInfo(rename(tensor), DataType.FLOAT, ["batch", ...shapes.get(tensor)!])),
    makeValueInfo(maskInputName(target.name), DataType.FLOAT, maskShape(target)),
    makeValueInfo(offsetInputName(target.name), DataType.FLOAT, maskShape(target)),
  ];
  graph.output = outputs;
  graph.valueInfo = [];
  return { model: copy, inputs: cut };
}

/**
 * The same graph computing in float64: float initializers, constants, casts, inputs and outputs become double.
 * Used to settle near ties exactly; onnxruntime lacks double kernels for some ops (Conv), and the caller falls back.
 */
export function toFloat64(model: ModelProto): ModelProto {
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const widen = (tensor: TensorProto) => {
    if (tensor.dataType !== DataType.FLOAT) return;
    const values = Float64Array.from(tensorValues(tensor) as Float32Array);
    tensor.dataType = DataType.DOUBLE;
    tensor.floatData = [];
    tensor.rawData = new Uint8Array(values.buffer);
  };
  for (const tensor of graph.initializer ?? []) widen(tensor);
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      if (attribute.t) widen(attribute.t);
      if (node.opType === "Cast" && attribute.name === "to" && Number(attribute.i) === DataType.FLOAT) attribute.i = DataType.DOUBLE;
    }
  }
  for (const info of [...(graph.input ?? []), ...(graph.output ?? [])]) {
    if (valueInfoElemType(info) === DataType.FLOAT) info.type!.tensorType!.elemType = DataType.DOUBLE;
  }
  graph.valueInfo = [];
  return copy;
}

/** The upstream tensors a suffix starting at `tensor` reads: the tensor itself first, then any other branch. */
export function cutTensors(model: ModelProto, tensor: string): string[] {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const downstream = downstreamNodes(graph, [tensor]);
  const produced = new Set(downstream.flatMap((n) => n.output ?? []));
  const cut = [tensor];
  for (const node of downstream) {
    for (const input of node.input ?? []) if (input && !produced.has(input) && !index.initializers.has(input) && !cut.includes(input)) cut.push(input);
  }
  return cut;
}
