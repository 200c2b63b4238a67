/**
 * What the transplant's report shows, gathered from a `lesion transplant` result directory's files alone
 * (`summary.json` and the merged `model.onnx`), so `lesion report DIR` rebuilds it at any time: accuracy per class
 * before, after the transplant and after each control, the gains with their bootstrap intervals,
 * the ablation check, and the transplanted units' incoming weights read from the merged model.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../errors.js";
import { readFileChecked } from "../files.js";
import { layerWeights } from "../onnx/layerWeights.js";
import { readMetadata } from "../onnx/metadata.js";
import { prepareGraph } from "../onnx/normalize.js";
import { decodeModel, type ModelProto } from "../onnx/proto.js";
import { SUMMARY_FILE } from "../runs/resultDir.js";
import type { TransplantSummary } from "../runs/transplantFiles.js";

/** The merged model's file in a transplant directory. */
export const TRANSPLANT_MODEL_FILE = "model.onnx";

/** One condition's accuracy: overall and per class (fractions 0..1; null for a class without test images). */
export interface TransplantReportOutcome {
  /** "before", "transplant", or a control's name. */
  name: string;
  /** Accuracy on the test data, a fraction 0..1 (mean over repeats after training). */
  accuracy: number;
  /** Per class [classes], fractions 0..1; null for a class without test images. */
  perClass: Array<number | null>;
}

/** Everything the transplant report shows, JSON-ready, from a transplant's summary and merged model. */
export interface TransplantReportData {
  /** The donor model's name. */
  donor: string;
  /** The recipient model's name. */
  recipient: string;
  /** The spec of the data the budget was drawn from. */
  data: string;
  /** The test data's spec. */
  test: string;
  /** One name per class, from the merged model's metadata (else "0".."K−1"). */
  classNames: string[];
  /** The class the transplant is for, or null when units were given without one. */
  class: number | null;
  /** The training budget (`TransplantResult.budget`, indices in a file). */
  budget: TransplantSummary["budget"];
  /** The donor's population (`TransplantResult.population`). */
  population: TransplantSummary["population"];
  /** Where the population sits in the merged model (`TransplantResult.transplanted`). */
  transplanted: TransplantSummary["transplanted"];
  /** The repeats' seeds. */
  seeds: number[];
  /** The intervals' level. */
  level: number;
  /** Bootstrap resamples behind every interval. */
  resamples: number;
  /** `before`, `transplant`, then each control, in that order. */
  outcomes: TransplantReportOutcome[];
  /** Units of each control that came from the donor (random-units), by control name. */
  controlUnits: Record<string, number[] | null>;
  /** Per condition, gains after − before with intervals (`TransplantResult.gains`). */
  gains: TransplantSummary["gains"];
  /** Transplant gain minus each control's, paired, with intervals. */
  versusControls: TransplantSummary["versusControls"];
  /** The population ablated in the merged model (`TransplantResult.ablationCheck`). */
  ablationCheck: TransplantSummary["ablationCheck"];
  /** Per condition and repeat (seed), the accuracies behind the means. */
  repeats: TransplantSummary["repeats"];
  /** The run's warnings. */
  warnings: string[];
  /**
   * The transplanted units' incoming weights in the merged model, one row per unit of `transplanted.units` (same
   * order). `image`: [height, width] when the units read the input image (a first-layer population: the donor's
   * weights, rescaled only by the two models' input normalisations): a dense layer's one-channel image, or a 2-D conv
   * layer's kernel per input channel (`channels`); null when they read the upstream branch (then `inputs` names the
   * branch units the columns are). Null when the model holds no such layer or a dense layer reads an input that is not
   * a one-channel image.
   */
  weights: {
    site: string;
    image: [number, number] | null;
    /** The image tiles are a first conv layer's kernels, not whole input images. */
    kernel: boolean;
    /**
     * Input channels per unit: a first conv layer's unit reads each of the image's channels through its own kernel
     * (`image` is then one kernel's [kh, kw]; each row of `values` holds `channels` kernels one after the other, as
     * the Conv weight orders them). 1 otherwise.
     */
    channels: number;
    inputs: { site: string; units: number[] } | null;
    /**
     * Weights summed into each of the `inputs` columns: 1 where a unit reads each branch unit through one weight, k²
     * where a conv layer reads a branch channel through its k×k kernel, and the positions per channel where a linear
     * layer reads a conv branch after a flatten (the sum: what a channel constant over its positions feeds the unit).
     */
    perInput: number;
    values: number[][];
  } | null;
}

const round = (v: number) => Number(v.toPrecision(5));

/** Whether `summary` (parsed `summary.json`) is a transplant's. */
export function isTransplantSummary(summary: unknown): summary is TransplantSummary {
  return typeof summary === "object" && summary !== null && (summary as { command?: unknown }).command === "transplant";
}

/**
 * Reads DIR/summary.json and DIR/model.onnx of a transplant run. Throws LesionError `missing-file` (no summary or
 * model), `bad-data` (the summary is no JSON, not a transplant's, or incomplete) or `bad-model` (unreadable model).
 */
export function readTransplantReportData(dir: string): TransplantReportData {
  const summaryPath = join(dir, SUMMARY_FILE);
  if (!existsSync(summaryPath)) fail("missing-file", `${dir} holds no ${SUMMARY_FILE}; run lesion transplant … -o ${dir} first`, { path: dir });
  let summary: unknown;
  try {
    summary = JSON.parse(readFileSync(summaryPath, "utf8"));
  } catch (error) {
    fail("bad-data", `${summaryPath} is not JSON (${(error as Error).message})`, { path: summaryPath });
  }
  if (!isTransplantSummary(summary)) fail("bad-data", `${summaryPath} is not a transplant's summary (command is not 'transplant')`, { path: summaryPath });
  const missing = ["before", "after", "controls", "gains", "versusControls", "ablationCheck", "transplanted", "population", "budget"].filter((key) => !(key in summary));
  if (missing.length > 0) fail("bad-data", `${summaryPath} lacks ${missing.join(", ")}: not a complete transplant summary; rerun lesion transplant`, { path: summaryPath });
  const modelPath = join(dir, TRANSPLANT_MODEL_FILE);
  return transplantReportData(summary, decodeModel(readFileChecked(modelPath, "merged model"), modelPath));
}

/**
 * The report's data from a transplant summary and its merged model (decoded ONNX; modified in place by the graph
 * normalisation every lesion reader applies). Pure: the CLI calls it on the run's results before they are written.
 * Throws only where lesion cannot read the merged model (`bad-model`, `unsupported-op`, as opening it would).
 */
export function transplantReportData(summary: Omit<TransplantSummary, "lesion" | "files"> & { lesion?: string; files?: string[] }, model: ModelProto): TransplantReportData {
  const k = summary.before.perClass.length;
  const classNames = readMetadata(model).classNames ?? Array.from({ length: k }, (_, i) => String(i));
  const outcomes: TransplantReportOutcome[] = [
    { name: "before", ...summary.before },
    { name: "transplant", ...summary.after },
    ...summary.controls.map((c) => ({ name: c.name, ...c.after })),
  ];
  return {
    donor: summary.donor,
    recipient: summary.recipient,
    data: summary.data,
    test: summary.test,
    classNames,
    class: summary.class,
    budget: summary.budget,
    population: summary.population,
    transplanted: summary.transplanted,
    seeds: summary.seeds,
    level: summary.level,
    resamples: summary.resamples,
    outcomes,
    controlUnits: Object.fromEntries(summary.controls.map((c) => [c.name, c.units])),
    gains: summary.gains,
    versusControls: summary.versusControls,
    ablationCheck: summary.ablationCheck,
    repeats: summary.repeats,
    warnings: summary.warnings ?? [],
    weights: transplantedWeights(model, summary.transplanted),
  };
}

/** The incoming weights of the transplanted units, read from the merged model's layer at the transplanted site. */
function transplantedWeights(model: ModelProto, transplanted: TransplantSummary["transplanted"]): TransplantReportData["weights"] {
  const location = prepareGraph(model, { dir: null, name: TRANSPLANT_MODEL_FILE }).sites.find((s) => s.name === transplanted.site);
  const layer = location?.layer ? layerWeights(model, location.layer) : null;
  if (!layer || transplanted.units.some((u) => u >= layer.units)) return null;
  const row = (u: number, columns: number[] | null, per = 1) =>
    columns
      ? columns.map((c) => round(layer.weight.subarray(u * layer.fanIn + c * per, u * layer.fanIn + (c + 1) * per).reduce((a, b) => a + b, 0)))
      : Array.from(layer.weight.subarray(u * layer.fanIn, (u + 1) * layer.fanIn), round);
  // A deeper population reads only its branch (block-diagonal): the columns are the branch units of the layer before,
  // the last of its inputs (so its inputs number the last branch unit + 1), each read through `per` weights.
  const feeding = transplanted.branch.length > 0 ? transplanted.branch[transplanted.branch.length - 1] : null;
  if (feeding) {
    const per = layer.fanIn / (Math.max(...feeding.units) + 1);
    if (!Number.isInteger(per)) return null;
    return { site: transplanted.site, image: null, kernel: false, channels: 1, inputs: { site: feeding.site, units: feeding.units }, perInput: per, values: transplanted.units.map((u) => row(u, feeding.units, per)) };
  }
  const values = transplanted.units.map((u) => row(u, null));
  // A first conv layer's unit reads the image through a kh×kw kernel per input channel: each is a tile.
  if (layer.kernel) return layer.kernel.length === 3 ? { site: transplanted.site, image: [layer.kernel[1], layer.kernel[2]], kernel: true, channels: layer.kernel[0], inputs: null, perInput: 1, values } : null;
  const shape = readMetadata(model).preprocessing?.imageShape ?? null;
  const side = Math.sqrt(layer.fanIn);
  const image: [number, number] | null = shape && shape[0] === 1 && shape[1] * shape[2] === layer.fanIn ? [shape[1], shape[2]] : Number.isInteger(side) && side > 1 ? [side, side] : null;
  return image ? { site: transplanted.site, image, kernel: false, channels: 1, inputs: null, perInput: 1, values } : null;
}
