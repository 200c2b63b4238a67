/**
 * The opened model: its graph (batch axis made symbolic), sites with their shapes, preprocessing, and the
 * onnxruntime sessions built from it. Sessions are created once per graph variant and kept until `closeModel`
 * (creating and releasing sessions leaks in Node, and their arenas never shrink: a model with conv sites gets sessions
 * without an arena, so that a study's many sessions of large activations do not add up, see createSession).
 */
import { basename, dirname } from "node:path";
import { closest, fail } from "../errors.js";
import { readFileChecked } from "../files.js";
import { checkHead, type Head } from "../onnx/head.js";
import { indexGraph, type GraphIndex } from "../onnx/graph.js";
import { readMetadata, type Preprocessing } from "../onnx/metadata.js";
import { prepareGraph, type Normalization } from "../onnx/normalize.js";
import { DataType, decodeModel, encodeModel, tensorValues, valueInfoShape, type ModelProto } from "../onnx/proto.js";
import { scopeName, unitsOnLastAxis, type SiteLocation } from "../onnx/sites.js";
import { withOutputs } from "../onnx/surgery.js";
import { createSession, defaultThreads, OrtTensor, type OrtSession, type SessionOptions } from "./ort.js";

/** A site: a tensor of the graph that carries units (an activation's or a Gemm/MatMul/Conv output), named once for API, CLI, files and report. */
export interface Site extends SiteLocation {
  /** "dense": units on the last axis of [N, D]; "conv": units are the channels of [N, C, …]. */
  kind: "dense" | "conv";
  /** Number of units (features or channels, the size of axis `unitAxis`); a unit is 0..units−1. */
  units: number;
  /** One sample's shape, batch axis excluded ([D] or [C, H, W]). */
  shape: number[];
  /**
   * Axis of the units in the batched tensor: 1 (the features of [N, D], the channels of NCHW), or the last axis where
   * the site is a Linear layer's output (a MatMul) on a tensor of rank 3 or more, or its activation: a channels-last
   * block (ConvNeXt's pointwise Linear after a permute, a transformer's [N, T, D]) has its units there.
   */
  unitAxis: number;
}

/** An opened model (`openModel`): its prepared graph, sites, metadata and onnxruntime sessions, open until `closeModel`. */
export interface LesionModel {
  /** `options.name`, else the file's base name ("model" for bytes): the name in messages and results. */
  name: string;
  /** SHA-256 (hex) of the model file's bytes, with its external tensors inline when it had any. */
  sha256: string;
  /** The graph as opening prepared it (normalised, batch axis symbolic, probability head read back to logits). */
  proto: ModelProto;
  /** Name of the graph's one input. */
  inputName: string;
  /** One sample's input shape as the graph takes it ([784] or [1, 28, 28]). */
  inputShape: number[];
  /** The classifier output: logits [N, K] (a probability head is read back to its logits at opening). */
  outputName: string;
  /** What the graph's classifier output was: logits, or the probability head lesion read back (src/onnx/head.ts). */
  head: Head;
  /** Number of classes K: the size of the logits' last axis, read by running one sample. */
  numClasses: number;
  /** How [0,1] pixels become the graph's input: lesion's metadata, or inferred from the input shape (raw pixels). */
  preprocessing: Preprocessing;
  /**
   * Whether `preprocessing` was read from lesion's metadata (written by `importModel` and `train`); false where the
   * graph recorded none and the pixels go in as they are ([0,1], mean 0, std 1).
   */
  preprocessingRecorded: boolean;
  /** One name per class in class order, from lesion's metadata; null when the model records none. */
  classNames: string[] | null;
  /** Every site found, in graph order. */
  sites: Site[];
  /** What opening changed in the graph: external data read in, float16 computed in float32, constants folded. */
  normalization: Normalization;
  /** Problems worth a user's attention that do not stop a run (NaN weights, …). */
  warnings: string[];
  /** Weights (initializer names) holding NaN or infinite values: `requireFiniteWeights` refuses such a model where activations must be finite. */
  nonFiniteWeights: string[];
  /** onnxruntime intra-op threads per session (`options.threads`, default every core). */
  threads: number;
  /** The open sessions, one per graph variant (by key), built on first use; `closeModel` releases and clears them. */
  sessions: Map<string, OrtSession>;
  /**
   * Per data set (by object identity), results computed once and reused while the model is open: the dense engine's
   * intact pass. Weakly held, so a data set no longer used is freed with its entries.
   */
  memo: WeakMap<object, Map<string, unknown>>;
}

/** Options of `openModel`. */
export interface OpenModelOptions {
  /** Threads per onnxruntime session. Default: every core. */
  threads?: number;
  /** Name used in messages when `source` is bytes. Default "model". */
  name?: string;
}

/**
 * Opens an ONNX classifier (a path, or bytes named by `options.name`): the graph normalised once (external data,
 * constant folding, float16 to float32, a probability head read back to logits), its sites found and named, its input
 * shape per sample and preprocessing read from lesion's metadata (or inferred), one long-lived onnxruntime session per
 * graph variant. Close it with `closeModel` in `finally`.
 * @throws LesionError `missing-file` (no such file, or external data not beside it); `bad-model` (not an ONNX model, a
 * PyTorch checkpoint given as one with `details.checkpoint`, more than one input, no fixed sample shape, output not
 * [batch, classes], a graph onnxruntime cannot run); `unsupported-op` (a tensor type lesion does not read).
 */
export async function openModel(source: string | Uint8Array, options: OpenModelOptions = {}): Promise<LesionModel> {
  const bytes = typeof source === "string" ? readFileChecked(source, "model") : source;
  const name = options.name ?? (typeof source === "string" ? basename(source) : "model");
  const proto = decodeModel(bytes, name);
  // Before any site search or cutting: weights inline, float32 throughout, weight nodes folded into initializers.
  const prepared = prepareGraph(proto, { dir: typeof source === "string" ? dirname(source) : null, name, bytes });
  const { normalization, head } = prepared;
  const graph = proto.graph!;
  const index = indexGraph(graph);
  if (index.inputs.length !== 1) fail("bad-model", `${name} has ${index.inputs.length} inputs; lesion studies classifiers with one image input`, { name });
  const inputInfo = graph.input!.find((i) => i.name === index.inputs[0])!;
  // Float16 inputs were made float32 above; an integer input would fail at the first run in onnxruntime's words
  // ("Unexpected input data type", a trial's uint8 Keras export).
  const elemType = inputInfo.type?.tensorType?.elemType ?? DataType.FLOAT;
  if (elemType !== DataType.FLOAT) {
    const typeName = (DataType[elemType] ?? `type ${elemType}`).toLowerCase();
    fail("bad-model", `${name} takes ${typeName} input (${inputInfo.name}); lesion feeds float32 images: export the model with a float input (for a uint8 graph that rescales itself, a float input of 0..255 pixels, then lesion import --mean 0 --std 0.00392156862745098)`, { name });
  }
  const metadata = readMetadata(proto, name);
  const inputShape = sampleShape(valueInfoShape(inputInfo), metadata.preprocessing?.imageShape ?? null, metadata.preprocessing?.layout ?? null, name);
  const preprocessing = metadata.preprocessing ?? inferPreprocessing(inputShape, name);
  const nonFinite = weightWarnings(proto);
  const model: LesionModel = {
    name,
    sha256: prepared.sha256!,
    proto,
    inputName: index.inputs[0],
    inputShape,
    outputName: index.outputs[0],
    head,
    numClasses: 0,
    preprocessing,
    preprocessingRecorded: metadata.preprocessing !== null,
    classNames: metadata.classNames,
    sites: [],
    normalization,
    warnings: nonFinite.map((w) => w.text),
    nonFiniteWeights: nonFinite.map((w) => w.tensor),
    threads: options.threads ?? defaultThreads(),
    sessions: new Map(),
    memo: new WeakMap(),
  };
  try {
    await probe(model, prepared.sites, index);
  } catch (error) {
    await closeModel(model);
    throw error;
  }
  return model;
}

/**
 * Releases the model's onnxruntime sessions (their memory) and empties `model.sessions`; call it in `finally`.
 * A second call does nothing. The model stays usable: a later verb builds the sessions it needs again, which then
 * need another `closeModel`. Throws nothing of lesion's own.
 */
export async function closeModel(model: LesionModel): Promise<void> {
  for (const session of model.sessions.values()) await session.release();
  model.sessions.clear();
}

/**
 * The session for a graph variant, built on first use and kept for the model's lifetime; `optimization` as
 * createSession's (default: the pinned "basic"), fixed by the key's first use.
 */
export async function getSession(model: LesionModel, key: string, build: () => ModelProto, options: Pick<SessionOptions, "optimization"> = {}): Promise<OrtSession> {
  let session = model.sessions.get(key);
  if (!session) {
    try {
      session = await createSession(encodeModel(build()), model.threads, { ...options, memoryArena: !model.sites.some((s) => s.kind === "conv") });
    } catch (error) {
      fail("bad-model", `${model.name} cannot be run by onnxruntime: ${(error as Error).message.split("\n")[0]}`, { name: model.name });
    }
    model.sessions.set(key, session);
  }
  return session;
}

/** A value computed once per (model, data set, key) while the model is open. */
export async function memoized<T>(model: LesionModel, data: object, key: string, compute: () => Promise<T>): Promise<T> {
  let entries = model.memo.get(data);
  if (!entries) model.memo.set(data, (entries = new Map()));
  if (!entries.has(key)) entries.set(key, await compute());
  return entries.get(key) as T;
}

/** What `memoized` holds for (model, data, key), without computing it: undefined when nothing is held yet. */
export function memoizedValue<T>(model: LesionModel, data: object, key: string): T | undefined {
  return model.memo.get(data)?.get(key) as T | undefined;
}

/**
 * Where one sample's values of a unit lie in its site's tensor: `plane` values (its positions; 1 for a dense site), the
 * first at unit·`unitStride`, `step` apart: [units, plane] where the units are on axis 1, [plane, units] on the last.
 */
export interface UnitLayout {
  plane: number;
  unitStride: number;
  step: number;
}

export function unitLayout(site: Site): UnitLayout {
  const plane = site.shape.reduce((a, b) => a * b, 1) / site.units;
  return site.unitAxis === 1 ? { plane, unitStride: plane, step: 1 } : { plane, unitStride: 1, step: site.units };
}

/** Checks that every unit exists at the site. Throws `bad-units` (a unit that is not a whole number) or `unit-out-of-range` naming the unit and the site's range. */
export function checkUnits(site: Site, units: readonly number[]): void {
  for (const unit of units) {
    // 1.5 is no unit at all, not one out of range.
    if (!Number.isInteger(unit)) fail("bad-units", `unit ${unit} of site ${site.name} is not a whole number`, { site: site.name, units: [...units] });
    if (unit < 0 || unit >= site.units) {
      fail("unit-out-of-range", `unit ${unit} is out of range for site ${site.name} (0..${site.units - 1})`, { site: site.name, unit, units: site.units });
    }
  }
}

/**
 * The only site lookup: the site named `name` (as `info` lists them).
 * @throws LesionError `unknown-site` naming the closest sites (`details.closest`); `bad-model` (a model without sites).
 */
export function resolveSite(model: LesionModel, name: string): Site {
  requireSites(model);
  const site = model.sites.find((s) => s.name === name) ?? siteByAlias(model.sites, name);
  if (!site) {
    const names = model.sites.map((s) => s.name);
    const hint = closest(name, names).join(", ");
    // A BatchNorm folded into the conv before it (an export's, `import --arch resnet`): its output is the conv's site.
    const conv = /^(.*?)bn(\d+)$/.exec(name);
    const folded = conv && names.includes(`${conv[1]}conv${conv[2]}`) ? `; a BatchNorm folded into the conv before it has that conv's site: ${conv[1]}conv${conv[2]}` : "";
    // One activation module applied more than once (torchvision's BasicBlock calls its `relu` twice): the name a
    // PyTorch hook would take is each use's, and each use is a site of its own. Only torch.onnx's scoped node names
    // (`/layer2/layer2.1/relu_1/Relu`) say so: Keras names two layers `re_lu` and `re_lu_1`.
    const uses = reusedModuleSites(model.sites, name);
    if (uses.length > 1 && uses.every((s) => s.node.startsWith("/"))) fail("unknown-site", `site '${name}' is ambiguous in ${model.name}: one activation module applied ${uses.length} times, each use a site of its own: ${uses.map((s) => s.name).join(", ")}`, { model: model.name, site: name, closest: uses.map((s) => s.name) });
    // A module of the graph that is no site (pooling, dropout, flatten): say what it is rather than suggest at random.
    const layer = folded ? undefined : model.proto.graph!.node!.find((n) => scopeName(n.name ?? "", n.opType ?? "") === name);
    const kind = layer ? `; '${name}' is a ${layer.opType} layer, not a site (sites are the outputs of activations and of Linear and Conv layers)` : "";
    fail("unknown-site", `unknown site '${name}' in ${model.name}${folded}${kind}; closest: ${hint} (all: ${names.join(", ")})`, { model: model.name, site: name, closest: closest(name, names) });
  }
  return site;
}

/**
 * The one site that `name` names other than by its site name: its activation node's name (`/act2/PRelu`,
 * `sequential/dense_1/Relu`), its tensor, or the module path in that node's name (`act2`, the activation module a
 * PyTorch user hooks), unless that module runs more than once (`relu`, `relu_1`, …: a reused nn.ReLU). Undefined when
 * none or several match.
 */
function siteByAlias(sites: readonly Site[], name: string): Site | undefined {
  const scopes = sites.map((s) => scopeName(s.node, s.op));
  const reused = reusedModuleSites(sites, name).length > 1;
  const matches = sites.filter((s, i) => s.node === name || s.tensor === name || (!reused && scopes[i] === name));
  return matches.length === 1 ? matches[0] : undefined;
}

/** The sites of module `name`'s uses (`relu`, `relu_1`, …: more than one where the module runs more than once), in graph order. */
function reusedModuleSites(sites: readonly Site[], name: string): Site[] {
  return sites.filter((s) => {
    const scope = scopeName(s.node, s.op);
    return scope !== null && (scope === name || (scope.startsWith(`${name}_`) && /^\d+$/.test(scope.slice(name.length + 1))));
  });
}

/** Ops between a classifier's last layer and its output: pass-through, and the two-logit head lesion writes ([0, z]). */
const HEAD_OPS = new Set(["Identity", "Reshape", "Flatten", "Squeeze", "Cast", "Concat", "Sub"]);

/**
 * The sites a study looks at by default: every site but the classifier's output, that is the output tensor and what
 * reaches it only through HEAD_OPS (a one-logit or sigmoid model's score). A 1-unit output site has no population to
 * find (it crashed the clustering).
 */
export function hiddenSites(model: LesionModel): Site[] {
  const index = indexGraph(model.proto.graph!);
  const output = new Set<string>();
  const stack = [model.outputName];
  while (stack.length > 0) {
    const tensor = stack.pop()!;
    if (output.has(tensor)) continue;
    output.add(tensor);
    const node = index.producer.get(tensor);
    if (node && HEAD_OPS.has(node.opType ?? "")) for (const input of node.input ?? []) if (input && !index.initializers.has(input)) stack.push(input);
  }
  return model.sites.filter((s) => !output.has(s.tensor));
}

/**
 * Refuses a model in which no site was found (`bad-model`), so recording or ablating it never "succeeds" with
 * nothing in it. Sites are float32 outputs of activations and of Gemm/MatMul/Conv layers with constant weights.
 */
export function requireSites(model: LesionModel): void {
  if (model.sites.length > 0) return;
  fail("bad-model", `${model.name} has no sites lesion can record or ablate: no activation (Relu, Tanh, …) or Gemm/MatMul/Conv with constant weights gives a float32 [N, units, …] tensor`, { name: model.name });
}

function sampleShape(shape: Array<number | string> | null, imageShape: [number, number, number] | null, layout: string | null, name: string): number[] {
  if (!shape || shape.length < 2) fail("bad-model", `${name} has an input without a batch axis and sample shape`, { name });
  const rest = shape.slice(1);
  if (rest.every((d): d is number => typeof d === "number" && d > 0)) return rest;
  if (imageShape) {
    const [c, h, w] = imageShape;
    return layout === "flat" ? [c * h * w] : layout === "nhwc" ? [h, w, c] : [c, h, w];
  }
  fail("bad-model", `${name} has an input whose sample shape is not fixed (${shape.join("x")}); give it when importing the model (\`inputShape\`)`, { name, options: ["inputShape"] });
}

/** Without lesion metadata: raw [0,1] pixels, layout read from the input's rank and channel axis. */
function inferPreprocessing(inputShape: number[], name: string): Preprocessing {
  if (inputShape.length === 1) return { layout: "flat", mean: [0], std: [1], imageShape: null };
  if (inputShape.length === 3) {
    const [a, , c] = inputShape;
    const nhwc = c <= 4 && a > 4;
    const imageShape: [number, number, number] = nhwc ? [inputShape[2], inputShape[0], inputShape[1]] : [inputShape[0], inputShape[1], inputShape[2]];
    return { layout: nhwc ? "nhwc" : "nchw", mean: [0], std: [1], imageShape };
  }
  if (inputShape.length === 2) return { layout: "nchw", mean: [0], std: [1], imageShape: [1, inputShape[0], inputShape[1]] };
  fail("bad-model", `lesion cannot feed images to an input of sample shape ${inputShape.join("x")} (${name})`, { name });
}

/** The weights holding NaN or infinite values, each with its warning. */
function weightWarnings(proto: ModelProto): Array<{ tensor: string; text: string }> {
  const warnings: Array<{ tensor: string; text: string }> = [];
  for (const tensor of proto.graph!.initializer ?? []) {
    if (tensor.dataType !== DataType.FLOAT && tensor.dataType !== DataType.DOUBLE) continue;
    const values = tensorValues(tensor) as Float32Array | Float64Array;
    let bad = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
    if (bad > 0) warnings.push({ tensor: tensor.name ?? "", text: `weight ${tensor.name} has ${bad} non-finite value${bad === 1 ? "" : "s"} (NaN or infinity)` });
  }
  return warnings;
}

/**
 * Refuses a model with NaN or infinite weights for work whose every step needs finite activations (clustering units
 * into populations, a study that does): `bad-model` naming the weights. Evaluation and ablation take such a model, with
 * a warning.
 */
export function requireFiniteWeights(model: LesionModel, purpose: string): void {
  if (model.nonFiniteWeights.length === 0) return;
  const named = model.nonFiniteWeights.slice(0, 3).join(", ") + (model.nonFiniteWeights.length > 3 ? ", …" : "");
  fail("bad-model", `${model.name} has NaN or infinite weights (${named}): ${purpose} needs finite activations`, { name: model.name, tensor: model.nonFiniteWeights[0] });
}

/**
 * Runs one zero sample through the graph with every site as an output, to learn site shapes and class count; `index`
 * (the opened graph's) gives each site's unit axis.
 */
async function probe(model: LesionModel, locations: SiteLocation[], index: GraphIndex): Promise<void> {
  const headInput = model.head.logits !== null && model.head.logits !== model.outputName ? [model.head.logits] : [];
  const tensors = [...locations.map((l) => l.tensor), ...headInput];
  const session = await getSession(model, "probe", () => withOutputs(model.proto, tensors));
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const feeds = { [model.inputName]: new OrtTensor("float32", new Float32Array(size), [1, ...model.inputShape]) };
  let outputs;
  try {
    outputs = await session.run(feeds);
  } catch (error) {
    // A graph exported for a fixed batch can compute that size where lesion cannot free it (a constant of the batch's
    // size: ViT's class token expanded to x.shape[0], an LSTM's initial state).
    const fixed = model.normalization.fixedBatch;
    const hint = fixed === null ? "" : `; it was exported for a fixed batch of ${fixed}, which its graph computes with: export it with a free batch axis (torch.onnx.export's dynamic_axes)`;
    fail("bad-model", `${model.name} fails on a sample of shape ${model.inputShape.join("x")}: ${(error as Error).message.split("\n")[0]}${hint}`, { name: model.name });
  }
  const logits = outputs[model.outputName];
  if (!logits || logits.dims.length !== 2) fail("bad-model", `${model.name} does not output [batch, classes] logits (output ${model.outputName} has shape ${logits?.dims.join("x")})`, { name: model.name });
  model.numClasses = Number(logits.dims[1]);
  if (model.head.logits !== null) checkHead(model.head, outputs[model.head.logits].dims.map(Number), model.numClasses, model.name);
  if (model.classNames && model.classNames.length !== model.numClasses) {
    fail("bad-model", `${model.name} names ${model.classNames.length} classes but outputs ${model.numClasses}`, { name: model.name, classes: model.classNames.length, outputs: model.numClasses });
  }
  // Two samples: a tensor whose first axis is not the batch (attention in [tokens, batch, features]) is no site.
  let pair;
  try {
    pair = await session.run({ [model.inputName]: new OrtTensor("float32", new Float32Array(2 * size), [2, ...model.inputShape]) });
  } catch (error) {
    fail("bad-model", `${model.name} runs on one sample but not on two: its graph fixes the batch size (${(error as Error).message.split("\n")[0]}); export it with a free batch axis (torch.onnx.export's dynamic_axes)`, { name: model.name });
  }
  for (const location of locations) {
    const value = outputs[location.tensor];
    if (!value || value.type !== "float32") continue;
    const dims = value.dims.map(Number);
    if (dims.length < 2 || dims.length > 5) continue;
    const twice = pair[location.tensor]?.dims.map(Number) ?? [];
    if (dims[0] !== 1 || twice[0] !== 2 || twice.length !== dims.length || twice.some((d, i) => i > 0 && d !== dims[i])) {
      model.normalization.leftOutSites.push(location.name);
      continue;
    }
    // A MatMul acts on the last axis: where one made the site (through its activation, norm or residual Add), the units are there.
    const unitAxis = dims.length > 2 && unitsOnLastAxis(location.tensor, index) ? dims.length - 1 : 1;
    model.sites.push({ ...location, kind: dims.length === 2 ? "dense" : "conv", units: dims[unitAxis], shape: dims.slice(1), unitAxis });
  }
}
