/** What a model is, as lesion sees it: input, preprocessing, classes and every site with its units. */
import type { LesionModel } from "../engine/model.js";
import type { HeadKind } from "../onnx/head.js";
import type { Preprocessing } from "../onnx/metadata.js";
import { describeNormalization } from "../onnx/normalize.js";

export interface SiteInfo {
  name: string;
  kind: "dense" | "conv";
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

export interface InfoResult {
  model: string;
  sha256: string;
  input: { name: string; shape: number[] };
  preprocessing: Preprocessing;
  /** False where the graph records no normalisation (an export as it is): the pixels go in as they are, in [0,1]. */
  preprocessingRecorded: boolean;
  numClasses: number;
  /**
   * What the classifier output is: "logits", or the probability head found at its end ("softmax", "log-softmax",
   * "sigmoid" for a one-output binary model). Losses are computed from the logits before a head (src/onnx/head.ts).
   */
  head: HeadKind;
  classNames: string[] | null;
  sites: SiteInfo[];
  /** How lesion reads the file, one line each: external data read from beside it, float16 computed in float32, folded nodes. */
  notes: string[];
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
    notes: describeNormalization(model.normalization),
    warnings: model.warnings,
  };
}
