/**
 * Graph surgery. Ablation is a mask at a site, fed as a graph input (x' = x·mask + offset, per row; exactly the
 * offset where the mask is 0, even for a non-finite x), so the intact and every ablated condition run through one
 * graph and one session; recording adds graph outputs; a suffix graph starts at a site so cached activations are
 * never recomputed upstream.
 */
import { fail } from "../errors.js";
import { downstreamNodes, elementTypes, indexGraph, type GraphIndex } from "./graph.js";
import { attributeInt, cloneModel, DataType, makeNode, makeTensor, makeValueInfo, tensorValues, valueInfoElemType, type ModelProto, type NodeProto, type TensorProto } from "./proto.js";

export interface MaskTarget {
  /** Site name; the mask and offset inputs are named after it. */
  name: string;
  tensor: string;
  /** Rank of the site tensor, batch axis included. */
  rank: number;
  /** Units on the unit axis. */
  units: number;
  /** The unit axis, batch axis included: 1 (the last axis of [N, D], the channel axis of NCHW) unless given (a channels-last site's last axis). */
  unitAxis?: number;
}

export const maskInputName = (site: string) => `lesion.mask.${site}`;
export const offsetInputName = (site: string) => `lesion.offset.${site}`;

/** The shape of a site's mask and offset: one row per batch row, units on axis 1, ones elsewhere. */
export function maskShape(target: MaskTarget, rows: number | string = "batch"): Array<number | string> {
  const shape: Array<number | string> = [rows, ...Array(Math.max(0, target.rank - 1)).fill(1)];
  shape[target.unitAxis ?? 1] = target.units;
  return shape;
}

/** Adds `x·mask + offset` right after each target tensor; consumers and graph outputs see the masked value. */
export function withMasks(model: ModelProto, targets: readonly MaskTarget[]): ModelProto {
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const index = indexGraph(graph);
  for (const target of targets) {
    const producer = index.producer.get(target.tensor);
    if (!producer) fail("bad-model", `site ${target.name} has no producing node`, { name: graph.name ?? "model", site: target.name });
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

/** What the part of a graph downstream of a site reads from upstream of it. */
export interface SuffixCut {
  /** Tensors fed to the suffix, cached from a run of the whole graph: the site tensor first, then other branches. */
  inputs: string[];
  /**
   * Tensors upstream of the site that the suffix reads only through `Shape` (PyTorch 2.x's dynamic-batch flatten,
   * `Reshape(x, Concat(Shape(input)[0:1], [-1]))`): their shape is [rows, …one sample's fixed shape], so the suffix
   * recomputes it from the rows it is fed instead of reading an int64 tensor computed for other rows.
   */
  shapeSources: string[];
}

/**
 * The upstream tensors a suffix starting at `tensor` reads. An upstream tensor computed from constants and from
 * other tensors' `Shape` only is not fed: its computation moves into the suffix (see SuffixCut.shapeSources).
 */
export function cutTensors(model: ModelProto, tensor: string): SuffixCut {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const downstream = downstreamNodes(graph, [tensor]);
  const produced = new Set(downstream.flatMap((n) => n.output ?? []));
  const cone = shapePaths(index, produced);
  const inputs = [tensor];
  for (const node of downstream) {
    for (const input of node.input ?? []) {
      if (!input || produced.has(input) || index.initializers.has(input) || inputs.includes(input)) continue;
      if (cone.kind(input) === "data") inputs.push(input);
    }
  }
  const shapeSources: string[] = [];
  for (const node of recomputed(index, downstream, produced, inputs, cone)) {
    const source = node.input![0];
    if (node.opType === "Shape" && cone.kind(source) === "data" && !shapeSources.includes(source)) shapeSources.push(source);
  }
  return { inputs, shapeSources };
}

/**
 * The upstream nodes a suffix recomputes rather than being fed their outputs: those computing constants or shapes
 * for it (a `Shape` of a data tensor is a leaf: it is replaced, its input never computed).
 */
function recomputed(index: GraphIndex, downstream: NodeProto[], produced: ReadonlySet<string>, fed: string[], cone: ReturnType<typeof shapePaths>): Set<NodeProto> {
  const needed = new Set<NodeProto>();
  const visit = (tensor: string) => {
    const node = index.producer.get(tensor);
    if (!node || needed.has(node) || produced.has(tensor)) return;
    if (!index.initializers.has(tensor) && cone.kind(tensor) === "data") return;
    needed.add(node);
    if (node.opType !== "Shape" || cone.kind(node.input![0]) === "constant") for (const input of node.input ?? []) if (input) visit(input);
  };
  for (const node of downstream) for (const input of node.input ?? []) if (input && !produced.has(input) && !fed.includes(input)) visit(input);
  return needed;
}

/**
 * The part of the graph downstream of a site, masked at the site, computing only the classifier `output` (the
 * graph's first output unless given; other outputs, such as features taken before the site, are dropped). Its
 * inputs are the site tensor and any other upstream tensor the downstream nodes read (a residual branch); what
 * upstream computes from constants and shapes only is recomputed inside it. `shapes` gives one sample's shape of
 * every cut input and shape source. Returns null when a fed input is not in `shapes` (not float), which the caller
 * reports.
 */
export function suffixModel(model: ModelProto, target: MaskTarget, shapes: ReadonlyMap<string, readonly number[]>, output?: string): SuffixModel | null {
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const index = indexGraph(graph);
  const downstream = downstreamNodes(graph, [target.tensor]);
  const produced = new Set(downstream.flatMap((n) => n.output ?? []));
  const name = output ?? index.outputs[0];
  const outputs = (graph.output ?? []).filter((o) => o.name === name);
  // A site that is the output itself (the logits) is a suffix of its mask alone.
  if (outputs.length === 0 || !(produced.has(name) || name === target.tensor)) fail("unknown-site", `site ${target.name} does not feed the classifier output ${name}; ablating it cannot change a prediction`, { model: graph.name ?? "model", site: target.name, closest: [] });
  const { inputs: cut, shapeSources } = cutTensors(model, target.tensor);
  if ([...cut, ...shapeSources].some((tensor) => !shapes.has(tensor))) return null;
  const inputName = `${target.tensor}::in`;
  const rename = (name: string) => (name === target.tensor ? inputName : name);
  const cone = shapePaths(index, produced);
  const needed = recomputed(index, downstream, produced, cut, cone);
  // The batch size of the rows fed, [rows] as int64, for the shapes recomputed.
  const batch = `${inputName}::batch`;
  const added: TensorProto[] = [];
  const upstream = (graph.node ?? []).filter((node) => needed.has(node)).flatMap((node, i) => {
    if (node.opType !== "Shape" || cone.kind(node.input![0]) !== "data") return [node];
    return shapeNodes(node, shapes.get(node.input![0])!, batch, `lesion.shape${i}`, added);
  });
  const batchNodes =
    shapeSources.length === 0
      ? []
      : [
          makeNode("Shape", [inputName], [`${inputName}::shape`], "lesion/batch/Shape"),
          makeNode("Gather", [`${inputName}::shape`, "lesion.batch.axis"], [batch], "lesion/batch/Gather", { axis: 0 }),
        ];
  if (shapeSources.length > 0) added.push(makeTensor("lesion.batch.axis", [1], BigInt64Array.of(0n)));
  const masked = maskNodes(target, inputName, target.tensor);
  graph.node = [...batchNodes, ...upstream, ...masked, ...downstream];
  const used = new Set([...graph.node.flatMap((n) => n.input ?? [])]);
  graph.initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name ?? "")), ...added];
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
 * Classifies upstream tensors by what their value depends on: "constant" (initializers and Constant nodes only),
 * "shape" (constants and the `Shape` of data tensors, nothing else of them), or "data".
 */
function shapePaths(index: GraphIndex, produced: ReadonlySet<string>) {
  const kinds = new Map<string, "constant" | "shape" | "data">();
  const kind = (tensor: string): "constant" | "shape" | "data" => {
    const known = kinds.get(tensor);
    if (known) return known;
    let result: "constant" | "shape" | "data";
    const node = index.producer.get(tensor);
    if (index.initializers.has(tensor) && !(node && node.opType !== "Constant")) result = "constant";
    else if (!node || produced.has(tensor)) result = "data";
    else if (node.opType === "Shape") {
      // The Shape of a data tensor is [rows, …its fixed sample shape]; that of a shape (a 1-D int tensor) is not
      // batch-first, and is left to the fed path (refused when not float).
      const of = kind(node.input![0]);
      result = of === "constant" ? "constant" : of === "data" ? "shape" : "data";
    } else {
      const inputs = (node.input ?? []).filter((i) => i).map(kind);
      result = inputs.includes("data") ? "data" : inputs.includes("shape") ? "shape" : "constant";
    }
    kinds.set(tensor, result);
    return result;
  };
  return { kind };
}

/**
 * Replaces `Shape(x)` of an upstream tensor x with its value for the rows being fed: [rows, …x's fixed sample shape],
 * cut to the node's `start`/`end` (opset 15).
 */
function shapeNodes(node: NodeProto, sample: readonly number[], batch: string, prefix: string, added: TensorProto[]): NodeProto[] {
  const rank = sample.length + 1;
  const clamp = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
  const start = clamp(attributeInt(node, "start", 0));
  const end = clamp(attributeInt(node, "end", rank));
  const out = node.output![0];
  const rest = BigInt64Array.from(sample.slice(Math.max(0, start - 1), Math.max(0, end - 1)), (d) => BigInt(d));
  if (start >= end) {
    added.push(makeTensor(`${prefix}.value`, [0], new BigInt64Array(0)));
    return [makeNode("Identity", [`${prefix}.value`], [out], `${prefix}/Identity`)];
  }
  if (start > 0) {
    added.push(makeTensor(`${prefix}.value`, [rest.length], rest));
    return [makeNode("Identity", [`${prefix}.value`], [out], `${prefix}/Identity`)];
  }
  added.push(makeTensor(`${prefix}.rest`, [rest.length], rest));
  return [makeNode("Concat", [batch, `${prefix}.rest`], [out], `${prefix}/Concat`, { axis: 0 })];
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
