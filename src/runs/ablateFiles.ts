/**
 * The files of an `ablate` run: a CSV per site (one row per condition), per-class accuracies and intact
 * predictions as `.npy`, and every changed prediction as (condition, sample, prediction) rows, so any per-sample
 * question can be answered in numpy without rerunning.
 */
import { join } from "node:path";
import { parseNpy } from "../data/npy.js";
import { fail, isLesionError } from "../errors.js";
import { readFileChecked } from "../files.js";
import type { AblateResult, ConditionResult } from "../study/ablate.js";
import type { AblationMode } from "../study/conditions.js";
import type { Provenance } from "./provenance.js";
import type { DeltaIntervals } from "../study/deltaIntervals.js";
import { fileStems, LESION_VERSION, SUMMARY_FILE, type ResultFile } from "./resultDir.js";

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
  /**
   * One entry per condition: its scalars, as its CSV row has them. `redundancy` is the overall one (null but for
   * pairs), `deltaCi` [low, high] its delta's interval (fractions) when computed. The per-class numbers are in the
   * files, row i for condition i: `per_class.npy` (accuracy), `redundancy.npy`, and the CSV (accuracy and delta).
   */
  conditions: AblateSummaryCondition[];
  /** How the conditions' `deltaCi` were computed (bootstrap over images, `deltaIntervals`); absent without them. */
  deltaCi?: { method: "bootstrap-exact"; level: number };
  /** The files written beside the summary. */
  files: string[];
}

/** A condition of `AblateSummary`: `ConditionResult` without its per-class arrays, `redundancy` its overall value. */
export type AblateSummaryCondition = Omit<ConditionResult, "confusion" | "perClass" | "deltaPerClass" | "redundancy"> & { redundancy: number | null; deltaCi?: [number, number] };

/**
 * The result files of an ablation. With `intervals` (from `deltaIntervals`, one per condition), each condition's
 * summary entry gets `deltaCi: [low, high]` and its CSV row the columns `delta_ci_low`, `delta_ci_high`.
 * Files: `<site>.csv` per site (one row per condition), `per_class.npy` ([conditions, classes] float64, NaN for a class
 * without samples), `redundancy.npy` where any condition is a pair ([conditions, classes] float64, the share of the
 * class's intact correct samples lost only jointly; NaN for other conditions and classes without samples),
 * `predictions.npy` and `labels.npy` ([n] int32), `changes.npy` ([changes, 3] int32 rows of condition, sample, new
 * prediction) and, with `options.confusion`, `confusion.npy` ([conditions, classes, classes]).
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
  if (result.conditions.some((c) => c.redundancy !== null)) {
    const redundancy = new Float64Array(result.conditions.length * k).fill(Number.NaN);
    for (let i = 0; i < result.conditions.length; i++) if (result.conditions[i].redundancy) copyPerClass(redundancy, i * k, result.conditions[i].redundancy!.perClass, k);
    files.push({ name: "redundancy.npy", kind: "npy", data: redundancy, shape: [result.conditions.length, k] });
  }
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
  // Written by index into an array of its final length (pushes grew it field by field).
  const row = new Array<string | number | null>(11 + (cumulative ? 3 : 0) + (interval ? 2 : 0) + 2 * k);
  let at = 0;
  row[at++] = c.id;
  row[at++] = c.site;
  row[at++] = c.units.join(" ");
  row[at++] = c.mode;
  row[at++] = c.label;
  if (cumulative) {
    row[at++] = c.cumulative?.fraction ?? null;
    row[at++] = c.cumulative?.order ?? null;
    row[at++] = c.cumulative?.repeat ?? null;
  }
  row[at++] = c.accuracy;
  row[at++] = c.delta;
  if (interval) {
    row[at++] = interval[0];
    row[at++] = interval[1];
  }
  row[at++] = c.lost;
  row[at++] = c.gained;
  row[at++] = c.loss;
  row[at++] = c.redundancy === null ? null : c.redundancy.overall;
  for (let j = 0; j < k; j++) row[at++] = c.perClass[j];
  for (let j = 0; j < k; j++) row[at++] = c.deltaPerClass[j];
  return row;
}

/**
 * A condition's summary entry: its scalars, with its interval. Its per-class arrays are in the files (per_class.npy,
 * redundancy.npy, the CSV): the summary of the standard sweep had repeated them, 3.6 MB where 1.1 MB says the rest,
 * and writing it had taken longer than the sweep of the last layer's pairs.
 */
function summaryCondition(c: ConditionResult, interval: [number, number] | null): AblateSummaryCondition {
  // One literal, the optional fields added after: a spread in the literal made each entry ~3 µs (cold), 17 ms a sweep.
  const entry: AblateSummaryCondition = {
    id: c.id,
    site: c.site,
    units: c.units,
    mode: c.mode,
    label: c.label,
    accuracy: c.accuracy,
    delta: c.delta,
    lost: c.lost,
    gained: c.gained,
    loss: c.loss,
    redundancy: c.redundancy === null ? null : c.redundancy.overall,
  };
  if (c.cumulative) entry.cumulative = c.cumulative;
  if (interval) entry.deltaCi = interval;
  return entry;
}

/** The one mode of the conditions, or "mixed". */
function modeOf(conditions: readonly ConditionResult[]): AblationMode | "mixed" {
  const modes = new Set(conditions.map((c) => c.mode));
  return modes.size === 1 ? [...modes][0] : "mixed";
}

/** A finished `ablate` directory read back: its summary, and condition i's per-class numbers from its files. */
export interface AblateFilesRead {
  summary: AblateSummary;
  /** Condition i's per-class accuracy (fractions 0..1, null for a class without samples), from per_class.npy. */
  perClass(i: number): Array<number | null>;
  /** Condition i's per-class change from the intact network (signed fractions), from its counts as ablate computes it. */
  deltaPerClass(i: number): Array<number | null>;
  /** Condition i's per-class redundancy (fractions 0..1), from redundancy.npy; null for a condition that is not a pair. */
  redundancy(i: number): Array<number | null> | null;
}

/**
 * Reads what `ablateFiles` wrote to `dir` (summary.json, per_class.npy, redundancy.npy), or a directory an earlier
 * release wrote, whose summary held the per-class arrays itself. The accessors take a condition's index in
 * `summary.conditions` (0..conditions−1).
 * @throws LesionError `missing-file`; `bad-data` (a summary that is not an ablate run's: another command's result, a
 *   study's directory; a file that is not what ablate writes); `bad-option` (from an accessor: an index that is no
 *   condition's).
 */
export function readAblateFiles(dir: string): AblateFilesRead {
  const path = join(dir, SUMMARY_FILE);
  let summary: AblateSummary;
  try {
    summary = JSON.parse(readFileChecked(path, "result file").toString("utf8")) as AblateSummary;
  } catch (error) {
    if (isLesionError(error)) throw error;
    fail("bad-data", `${path} is not valid JSON (${(error as Error).message}): a damaged result; rerun the command into a new directory`, { path });
  }
  // A record or characterize result (a study's folders hold all three) has other fields: said, not a TypeError.
  const command = (summary as { command?: unknown }).command;
  if (command !== "ablate" || !Array.isArray(summary.conditions) || !Array.isArray(summary.classNames)) {
    fail("bad-data", `${dir} holds ${typeof command === "string" ? `a ${command} result` : "no ablate result"}, not an ablate run's (readAblateFiles reads \`lesion ablate\` directories)`, { path });
  }
  const k = summary.classNames.length;
  const check = (i: number) => {
    if (!(Number.isInteger(i) && i >= 0 && i < summary.conditions.length)) fail("bad-option", `condition index ${i} is not one of ${dir}'s conditions (0..${summary.conditions.length - 1})`, { options: ["index"], value: i });
  };
  const old = summary.conditions as unknown as Array<{ perClass?: Array<number | null>; redundancy: number | { overall: number; perClass: Array<number | null> } | null }>;
  const earlier = old.length > 0 && Array.isArray(old[0].perClass);
  const matrix = (name: string): Float64Array | null => {
    if (earlier || !summary.files.includes(name)) return null;
    const path = join(dir, name);
    const array = parseNpy(readFileChecked(path, "result file"), path);
    if (array.descr !== "<f8" || array.shape.join() !== `${summary.conditions.length},${k}`) fail("bad-data", `${path} is not the [${summary.conditions.length}, ${k}] float64 array ablate writes`, { path });
    return new Float64Array(Uint8Array.from(array.data).buffer);
  };
  const row = (values: Float64Array, i: number) => Array.from(values.subarray(i * k, (i + 1) * k), (v) => (Number.isNaN(v) ? null : v));
  const accuracies = matrix("per_class.npy");
  const redundancies = matrix("redundancy.npy");
  if (earlier) summary.conditions = summary.conditions.map((c, i) => ({ ...c, redundancy: typeof old[i].redundancy === "object" && old[i].redundancy !== null ? old[i].redundancy.overall : null }));
  const perClass = (i: number) => {
    check(i);
    return earlier ? old[i].perClass! : row(accuracies!, i);
  };
  return {
    summary,
    perClass,
    deltaPerClass(i) {
      // As ablate: (correct − intact correct) / class size, the counts recovered from the fractions.
      const now = perClass(i);
      return summary.classCounts.map((n, j) => (now[j] === null || summary.baseline.perClass[j] === null ? null : (Math.round(now[j]! * n) - Math.round(summary.baseline.perClass[j]! * n)) / n));
    },
    redundancy(i) {
      check(i);
      if (earlier) {
        const r = old[i].redundancy;
        return typeof r === "object" && r !== null ? r.perClass : null;
      }
      return redundancies && summary.conditions[i].redundancy !== null ? row(redundancies, i) : null;
    },
  };
}
