/**
 * The files of an `ablate` run: a CSV per site (one row per condition), per-class accuracies and intact
 * predictions as `.npy`, and every changed prediction as (condition, sample, prediction) rows, so any per-sample
 * question can be answered in numpy without rerunning.
 */
import { fail } from "../errors.js";
import type { AblateResult, ConditionResult } from "../study/ablate.js";
import type { AblationMode } from "../study/conditions.js";
import type { Provenance } from "./provenance.js";
import type { DeltaIntervals } from "../study/deltaIntervals.js";
import { fileStems, LESION_VERSION, type ResultFile } from "./resultDir.js";

/** `lesion ablate`'s summary.json: the result without its per-sample arrays (those are .npy files), with options and provenance. */
export interface AblateSummary extends Omit<AblateResult, "changes" | "predictions" | "labels" | "conditions"> {
  /** The lesion version that wrote it. */
  lesion: string;
  /** The verb that wrote the directory. */
  command: "ablate";
  /** The site(s) asked for, as given. */
  site: string;
  /** The conditions' ablation mode, or "mixed" where they use both (one run of zero and mean conditions). */
  mode: AblationMode | "mixed";
  /** Whether each condition's loss was computed and its confusion matrix kept (`confusion.npy`). */
  options: { loss: boolean; confusion: boolean };
  /** What computed the result and on what (versions, threads, model and data hashes, seed). */
  provenance: Provenance;
  /** One entry per condition, as the result's without `confusion`; `deltaCi` [low, high] its delta's interval (fractions) when computed. */
  conditions: Array<Omit<AblateResult["conditions"][number], "confusion"> & { deltaCi?: [number, number] }>;
  /** How the conditions' `deltaCi` were computed (bootstrap over images, `deltaIntervals`); absent without them. */
  deltaCi?: { method: "bootstrap-exact"; level: number };
  /** The files written beside the summary. */
  files: string[];
}

/**
 * The result files of an ablation. With `intervals` (from `deltaIntervals`, one per condition), each condition's
 * summary entry gets `deltaCi: [low, high]` and its CSV row the columns `delta_ci_low`, `delta_ci_high`.
 * Files: `<site>.csv` per site (one row per condition), `per_class.npy` ([conditions, classes] float64, NaN for a class
 * without samples), `predictions.npy` and `labels.npy` ([n] int32), `changes.npy` ([changes, 3] int32 rows of
 * condition, sample, new prediction) and, with `options.confusion`, `confusion.npy` ([conditions, classes, classes]).
 * Built in memory, written by ResultDir.write.
 * @throws LesionError `bad-option` (`options.confusion` for a result computed without `confusion`).
 */
export function ablateFiles(
  result: AblateResult,
  options: { site: string; loss: boolean; confusion: boolean; provenance: Provenance },
  intervals?: DeltaIntervals,
): { files: ResultFile[]; summary: AblateSummary } {
  const k = result.classNames.length;
  const files: ResultFile[] = [];
  // Rows built with plain loops, no spreads or callbacks per condition: this runs once per process over thousands of
  // conditions, mostly before V8 has optimised it.
  const bySite = new Map<string, number[]>();
  result.conditions.forEach((c, i) => {
    let indices = bySite.get(c.site);
    if (!indices) bySite.set(c.site, (indices = []));
    indices.push(i);
  });
  // A cumulative ablation's steps get their fraction, order and repeat as columns of their own (the label has them as text).
  const cumulative = result.conditions.some((c) => c.cumulative !== undefined);
  const stems = fileStems([...bySite.keys()]);
  for (const [site, indices] of bySite) {
    const rows = new Array<Array<string | number | null>>(indices.length);
    for (let r = 0; r < indices.length; r++) rows[r] = csvRow(result.conditions[indices[r]], intervals?.intervals[indices[r]] ?? null, k, cumulative);
    const header = ["id", "site", "units", "mode", "label", ...(cumulative ? ["fraction", "order", "repeat"] : []), "accuracy", "delta", ...(intervals ? ["delta_ci_low", "delta_ci_high"] : []), "lost", "gained", "loss", "redundancy", ...result.classNames.map((c) => `accuracy_${c}`), ...result.classNames.map((c) => `delta_${c}`)];
    files.push({ name: `${stems.get(site)}.csv`, kind: "csv", header, rows, floats: header.filter((h) => !WHOLE_COLUMNS.includes(h)) });
  }
  const perClass = new Float64Array(result.conditions.length * k);
  for (let i = 0; i < result.conditions.length; i++) copyPerClass(perClass, i * k, result.conditions[i].perClass, k);
  files.push({ name: "per_class.npy", kind: "npy", data: perClass, shape: [result.conditions.length, k] });
  files.push({ name: "predictions.npy", kind: "npy", data: result.predictions, shape: [result.n] });
  files.push({ name: "labels.npy", kind: "npy", data: result.labels, shape: [result.n] });
  let total = 0;
  for (let i = 0; i < result.changes.length; i++) total += result.changes[i].samples.length;
  const changes = new Int32Array(total * 3);
  for (let i = 0, at = 0; i < result.changes.length; i++) at = copyChanges(changes, at, i, result.changes[i]);
  files.push({ name: "changes.npy", kind: "npy", data: changes, shape: [total, 3] });
  if (options.confusion) {
    if (result.conditions.some((c) => !c.confusion)) fail("bad-option", "`confusion` files need a result computed with `confusion` (ablate's option)", { options: ["confusion"] });
    const confusion = new Float64Array(result.conditions.length * k * k);
    result.conditions.forEach((c, i) => confusion.set(c.confusion!.data, i * k * k));
    files.push({ name: "confusion.npy", kind: "npy", data: confusion, shape: [result.conditions.length, k, k] });
  }
  const { changes: _changes, predictions: _predictions, labels: _labels, ...rest } = result;
  const summary: AblateSummary = {
    lesion: LESION_VERSION,
    command: "ablate",
    site: options.site,
    mode: modeOf(result.conditions),
    ...rest,
    options: { loss: options.loss, confusion: options.confusion },
    provenance: options.provenance,
    ...(intervals ? { deltaCi: { method: intervals.method, level: intervals.level } } : {}),
    // Confusion matrices live in confusion.npy; the summary keeps one row per condition readable.
    conditions: result.conditions.map((c, i) => summaryCondition(c, intervals?.intervals[i] ?? null)),
    files: files.map((f) => f.name),
  };
  return { files, summary };
}

/** The CSV's columns of whole numbers: its other numbers are real (`encodeCsv`'s floats; text is written as it is). */
const WHOLE_COLUMNS = ["repeat", "lost", "gained"];

// The loops over each condition in small functions of their own: called thousands of times, they are optimised
// early, where one closure over all conditions ran unoptimised (the standard sweep's 390,000 changes: ~13 → ~3 ms).

/** A condition's per-class accuracies into `out` from `at`, NaN for a class without samples. */
function copyPerClass(out: Float64Array, at: number, perClass: Array<number | null>, k: number): void {
  for (let j = 0; j < k; j++) out[at + j] = perClass[j] ?? Number.NaN;
}

/** Condition i's changed predictions as (condition, sample, prediction) rows into `out` from `at`; returns where it stopped. */
function copyChanges(out: Int32Array, at: number, i: number, change: { samples: Int32Array; predictions: Int32Array }): number {
  const { samples, predictions } = change;
  for (let j = 0; j < samples.length; j++, at += 3) {
    out[at] = i;
    out[at + 1] = samples[j];
    out[at + 2] = predictions[j];
  }
  return at;
}

/** A condition's CSV row, in the header's order. */
function csvRow(c: ConditionResult, interval: [number, number] | null, k: number, cumulative: boolean): Array<string | number | null> {
  const row: Array<string | number | null> = [c.id, c.site, c.units.join(" "), c.mode, c.label];
  if (cumulative) row.push(c.cumulative?.fraction ?? null, c.cumulative?.order ?? null, c.cumulative?.repeat ?? null);
  row.push(c.accuracy, c.delta);
  if (interval) row.push(interval[0], interval[1]);
  row.push(c.lost, c.gained, c.loss, c.redundancy?.overall ?? null);
  for (let j = 0; j < k; j++) row.push(c.perClass[j]);
  for (let j = 0; j < k; j++) row.push(c.deltaPerClass[j]);
  return row;
}

/** A condition's summary entry: its fields but the confusion matrix (confusion.npy holds those), with its interval. */
function summaryCondition(c: ConditionResult, interval: [number, number] | null): AblateSummary["conditions"][number] {
  const entry: AblateSummary["conditions"][number] = {
    id: c.id,
    site: c.site,
    units: c.units,
    mode: c.mode,
    label: c.label,
    ...(c.cumulative ? { cumulative: c.cumulative } : {}),
    accuracy: c.accuracy,
    perClass: c.perClass,
    delta: c.delta,
    deltaPerClass: c.deltaPerClass,
    lost: c.lost,
    gained: c.gained,
    loss: c.loss,
    redundancy: c.redundancy,
  };
  if (interval) entry.deltaCi = interval;
  return entry;
}

/** The one mode of the conditions, or "mixed". */
function modeOf(conditions: readonly ConditionResult[]): AblationMode | "mixed" {
  const modes = new Set(conditions.map((c) => c.mode));
  return modes.size === 1 ? [...modes][0] : "mixed";
}
