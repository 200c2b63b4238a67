/**
 * What opening a model does to its graph before anything else looks at it: external data read in from beside the
 * model file, constant-only subgraphs folded into initializers, float16 converted to float32, Dropout and
 * BatchNormalization exported in training mode set to compute as in evaluation. Every later step (site
 * search, batching, masks, suffix graphs, the dense engine) then sees one plain float32 graph with inline weights.
 */
import { fail } from "../errors.js";
import { sha256 } from "../files.js";
import { fixedBatchSize, makeBatchDynamic } from "./batch.js";
import { constantTensors } from "./graph.js";
import { externalDataFiles, inlineExternalData } from "./externalData.js";
import { float16ToFloat32 } from "./float16.js";
import { foldConstants } from "./fold.js";
import { normalizeHead, readOneLogit, type Head } from "./head.js";
import { attributeInt, defaultOpset, encodeModel, tensorValues, type GraphProto, type ModelProto } from "./proto.js";
import { locateSites, type SiteLocation } from "./sites.js";

/** What `normalizeModel` changed, for `info` and provenance. */
export interface Normalization {
  /** Tensors read from external data files (0 when the model held all its tensors). */
  externalTensors: number;
  /** The external data files read, as the model names them (relative to its directory). */
  externalFiles: string[];
  /** The model stored or computed float16/bfloat16 values; lesion computes them in float32. */
  float16: boolean;
  /** Nodes of constant-only subgraphs replaced by initializers. */
  foldedNodes: number;
  /** Dropout and BatchNormalization nodes exported in training mode, made to compute as in evaluation (`inferenceMode`). */
  trainingModeNodes: number;
  /** The batch size the graph was exported with, made symbolic (null when it already was). */
  fixedBatch: number | null;
  /**
   * Activations left out of the sites because the batch is not their first axis (torch 1.13's nn.MultiheadAttention
   * works in [tokens, batch, features], its out_proj on [tokens·batch, features]): a unit there is no per-sample unit.
   * Filled by openModel's probe.
   */
  leftOutSites: string[];
}

export interface NormalizeOptions {
  /** Directory of the model file, where external data is looked up; null when the model came as bytes. */
  dir: string | null;
  /** The model's name in messages. */
  name: string;
}

/**
 * Normalises `model` in place (see the module comment). Throws `unsupported-op` for a BatchNormalization in training
 * mode whose batch statistics the graph reads, `bad-model` when the model keeps tensors in external
 * data but came without a directory to find them in, `missing-file` when a data file is absent.
 */
export function normalizeModel(model: ModelProto, options: NormalizeOptions): Normalization {
  const graph = model.graph!;
  const externalFiles = externalDataFiles(graph);
  let externalTensors = 0;
  if (externalFiles.length > 0) {
    if (options.dir === null) {
      fail("bad-model", `${options.name} keeps its tensors in external data (${externalFiles.join(", ")}); open it by its file path so they are read from beside it`, { name: options.name });
    }
    externalTensors = inlineExternalData(graph, options.dir, options.name);
  }
  // Folding first keeps a constant's float16 rounding where the graph casts it to float16 (mixed-precision output).
  const foldedNodes = foldConstants(graph);
  const float16 = float16ToFloat32(graph);
  const trainingModeNodes = inferenceMode(graph, defaultOpset(model));
  return { externalTensors, externalFiles, float16, foldedNodes, trainingModeNodes, fixedBatch: null, leftOutSites: [] };
}

/**
 * Makes nodes exported in training mode (`torch.onnx.export(…, training=TrainingMode.TRAINING)`) compute as in
 * evaluation, which is what a lesion study measures: a Dropout whose `training_mode` input is a constant true drops
 * that input (identity, where onnxruntime would drop units at random), and a BatchNormalization with
 * `training_mode=1` whose running-statistics outputs nothing reads uses its running statistics (batch statistics
 * would make every result depend on how the samples are batched). Before opset 14 BatchNormalization has no
 * `training_mode`: its extra outputs (running and saved mean and variance) are what mark training mode, and
 * onnxruntime then normalises by the batch's statistics (a trial's opset-13 export: 74.60 % in batches of 1,000,
 * 64.60 % in batches of 10, 58.40 % by its running statistics). `opset`: the graph's default-domain opset. Returns how
 * many nodes changed.
 */
export function inferenceMode(graph: GraphProto, opset: number): number {
  // torch.onnx writes training_mode as a Constant node's output, which folding leaves in place.
  const constants = constantTensors(graph);
  const read = new Set<string>([...(graph.node ?? []).flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name ?? "")]);
  let changed = 0;
  for (const node of graph.node ?? []) {
    if (node.opType === "Dropout" && node.input && node.input.length >= 3 && node.input[2]) {
      const mode = constants.get(node.input[2]);
      if (!mode || !Array.from(tensorValues(mode) as ArrayLike<number | bigint>).some((v) => Number(v) !== 0)) continue;
      node.input = node.input.slice(0, 2);
      changed++;
    } else if (node.opType === "BatchNormalization" && (attributeInt(node, "training_mode", 0) === 1 || (opset < 14 && (node.output ?? []).slice(1).some((o) => o)))) {
      // Statistics the graph goes on to use cannot be dropped; batch statistics would make every result depend on
      // the batching: refused rather than computed so.
      if ((node.output ?? []).slice(1).some((o) => o && read.has(o))) fail("unsupported-op", `BatchNormalization ${node.name || node.output![0]} is exported in training mode and the graph reads its batch statistics; export the network in evaluation mode (model.eval(), torch.onnx.export's default)`, { op: "BatchNormalization", tensor: node.output![0] });
      node.attribute = (node.attribute ?? []).filter((a) => a.name !== "training_mode");
      node.output = node.output!.slice(0, 1);
      changed++;
    }
  }
  return changed;
}

/** One line per change, for `lesion info`. */
export function describeNormalization(n: Normalization): string[] {
  const lines: string[] = [];
  if (n.externalTensors > 0) lines.push(`${n.externalTensors} tensor${n.externalTensors === 1 ? "" : "s"} read from external data ${n.externalFiles.join(", ")} beside the model`);
  if (n.float16) lines.push("stored as float16; lesion computes it in float32 (weights, inputs and activations)");
  if (n.foldedNodes > 0) lines.push(`${n.foldedNodes} constant-only node${n.foldedNodes === 1 ? "" : "s"} (weight Reshape/Transpose/Cast/…) folded into initializers`);
  if (n.trainingModeNodes > 0) lines.push(`${n.trainingModeNodes} Dropout/BatchNormalization node${n.trainingModeNodes === 1 ? "" : "s"} exported in training mode computed as in evaluation (no dropout, running statistics)`);
  if (n.leftOutSites.length > 0) lines.push(`not sites, their batch not the first axis (attention in [tokens, batch, features] layout): ${n.leftOutSites.join(", ")}`);
  if (n.fixedBatch !== null) lines.push(`exported for a fixed batch of ${n.fixedBatch}; the batch axis made free (input, output and Reshape shapes), so any number of samples runs`);
  return lines;
}

/** A graph as `prepareGraph` leaves it: what normalising changed, its identity, its head and its sites. */
export interface PreparedGraph {
  normalization: Normalization;
  /** SHA-256 of the model file (with its external tensors inline when it had any); null when no bytes were given. */
  sha256: string | null;
  head: Head;
  sites: SiteLocation[];
}

/**
 * Everything opening a model does to its graph, in this order, in place: normalised (`normalizeModel`), hashed (the
 * file alone does not identify weights kept in external data, so such a model is hashed with its tensors inline),
 * batch dimension made dynamic, probability head read back to logits (folding constants and removing a Sigmoid head
 * change positional names), sites located. `openModel` and the readers of result files that open no session (the
 * reports) both call it, so they name sites alike. Throws as `normalizeModel` does and `bad-model` for an unusable head.
 */
export function prepareGraph(model: ModelProto, options: NormalizeOptions & { bytes?: Uint8Array }): PreparedGraph {
  const normalization = normalizeModel(model, options);
  const digest = options.bytes ? sha256(normalization.externalTensors > 0 ? encodeModel(model) : options.bytes) : null;
  const batch = fixedBatchSize(model);
  if (makeBatchDynamic(model)) normalization.fixedBatch = batch;
  const head = readOneLogit(model, normalizeHead(model));
  return { normalization, sha256: digest, head, sites: locateSites(model.graph!) };
}
