/** What a model is, as lesion sees it: input, preprocessing, classes and every site with its units. */
import type { LesionModel } from "../engine/model.js";
import type { HeadKind } from "../onnx/head.js";
import type { Preprocessing } from "../onnx/metadata.js";
import { describeNormalization } from "../onnx/normalize.js";

/** One site as `info` lists it (the fields of `Site` a user reads). */
export interface SiteInfo {
  /** The site's name, the one `resolveSite`, the CLI and result files use. */
  name: string;
  /** "dense": units on the last axis of [N, D]; "conv": units are channels of [N, C, …] (or channels-last). */
  kind: "dense" | "conv";
  /** Number of units; a unit is 0..units−1. */
  units: number;
  /** One sample's shape at the site. */
  shape: number[];
  /** The units' axis in the batched tensor: 1, or the last axis of a channels-last site (Site.unitAxis). */
  unitAxis: number;
  /**
   * The site's op: its activation's (Relu, Gelu, …), its layer's (Gemm, MatMul, Conv) where the site is a layer's
   * output, Add for a block's output.
   */
  op: string;
  /** The graph node whose output the site's tensor is (for a layer's output, the last of its bias Add, BatchNormalization, Identity). */
  node: string;
  /** The layer node (Gemm, MatMul, Conv) whose output or activation the site is; null for a block's output. */
  layer: string | null;
}

/** What `info` returns (`lesion info --json`). */
export interface InfoResult {
  /** The model's name (its file's base name). */
  model: string;
  /** SHA-256 (hex) of the model file. */
  sha256: string;
  /** The graph's input: its name, and one sample's shape without the batch axis ([784], [1, 28, 28], …). */
  input: { name: string; shape: number[] };
  /** How [0,1] pixels are normalised and laid out for the input (recorded, or inferred: mean 0, std 1). */
  preprocessing: Preprocessing;
  /** False where the graph records no normalisation (an export as it is): the pixels go in as they are, in [0,1]. */
  preprocessingRecorded: boolean;
  /** Number of classes K (the logits' width). */
  numClasses: number;
  /**
   * What the classifier output is: "logits", or the probability head found at its end ("softmax", "log-softmax",
   * "sigmoid" for a one-output binary model). Losses are computed from the logits before a head (src/onnx/head.ts).
   */
  head: HeadKind;
  /** Class names in class order from lesion's metadata; null when the model records none. */
  classNames: string[] | null;
  /** Every site, in graph order. */
  sites: SiteInfo[];
  /** How lesion reads the file, one line each: external data read from beside it, float16 computed in float32, folded nodes. */
  notes: string[];
  /** Problems that do not stop a run: weights holding NaN or infinite values. */
  warnings: string[];
}

/**
 * What an opened model holds: its input (shape per sample, without the batch axis), preprocessing, classes, head,
 * every site (name, kind "dense" | "conv", units, tensor shape [batch, units, …]), how the file was normalised, and
 * warnings (non-finite weights). Sites are named as in README "Concepts" (src/onnx/sites.ts).
 * @throws nothing: every check ran when the model was opened (openModel throws `missing-file`, `bad-model`,
 * `unsupported-op`).
 */
export function info(model: LesionModel): InfoResult {
  return {
    model: model.name,
    sha256: model.sha256,
    input: { name: model.inputName, shape: model.inputShape },
    preprocessing: model.preprocessing,
    preprocessingRecorded: model.preprocessingRecorded,
    numClasses: model.numClasses,
    head: model.head.kind,
    classNames: model.classNames,
    sites: model.sites.map((s) => ({ name: s.name, kind: s.kind, units: s.units, shape: s.shape, unitAxis: s.unitAxis, op: s.op, node: s.node, layer: s.layer })),
    notes: [...describeNormalization(model.normalization), ...recurrentNote(model)],
    warnings: model.warnings,
  };
}

/** Recurrent layers' states are no sites (a trial's `--site lstm` was unknown without a word on why). */
function recurrentNote(model: LesionModel): string[] {
  const recurrent = (model.proto.graph?.node ?? []).filter((n) => ["LSTM", "GRU", "RNN"].includes(n.opType ?? ""));
  if (recurrent.length === 0) return [];
  return [`not sites: the hidden states of ${recurrent.map((n) => `${n.opType} ${n.name || n.output?.[0]}`).join(", ")} (lesion's sites are the activations of feed-forward layers; recurrent layers are not studied)`];
}
