/**
 * The files of an `ablate` run: a CSV per site (one row per condition), per-class accuracies and intact
 * predictions as `.npy`, and every changed prediction as (condition, sample, prediction) rows, so any per-sample
 * question can be answered in numpy without rerunning.
 */
import type { AblateResult } from "../study/ablate.js";
import type { AblationMode } from "../study/conditions.js";
import type { Provenance } from "./provenance.js";
import type { DeltaIntervals } from "../study/deltaIntervals.js";
import { fileStem, LESION_VERSION, type ResultFile } from "./resultDir.js";

export interface AblateSummary extends Omit<AblateResult, "changes" | "predictions" | "conditions"> {
  lesion: string;
  command: "ablate";
  /** The site(s) and mode asked for, as given. */
  site: string;
  mode: AblationMode;
  options: { loss: boolean; confusion: boolean };
  /** What computed the result and on what (versions, threads, model and data hashes, seed). */
  provenance: Provenance;
  conditions: Array<Omit<AblateResult["conditions"][number], "confusion"> & { deltaCi?: [number, number] }>;
  /** How the conditions' `deltaCi` were computed (bootstrap over images, `deltaIntervals`); absent without them. */
  deltaCi?: { method: "bootstrap-exact"; level: number };
  files: string[];
}

/**
 * The result files of an ablation. With `intervals` (from `deltaIntervals`, one per condition), each condition's
 * summary entry gets `deltaCi: [low, high]` and its CSV row the columns `delta_ci_low`, `delta_ci_high`.
 */
export function ablateFiles(
  result: AblateResult,
  options: { site: string; mode: AblationMode; loss: boolean; confusion: boolean; provenance: Provenance },
  intervals?: DeltaIntervals,
): { files: ResultFile[]; summary: AblateSummary } {
  const k = result.classNames.length;
  const files: ResultFile[] = [];
  const sites = [...new Set(result.conditions.map((c) => c.site))];
  for (const site of sites) {
    const rows = result.conditions.map((c, i) => ({ c, ci: intervals?.intervals[i] ?? null })).filter(({ c }) => c.site === site);
    files.push({
      name: `${fileStem(site)}.csv`,
      kind: "csv",
      header: ["id", "site", "units", "mode", "label", "accuracy", "delta", ...(intervals ? ["delta_ci_low", "delta_ci_high"] : []), "lost", "gained", "loss", "redundancy", ...result.classNames.map((c) => `accuracy_${c}`), ...result.classNames.map((c) => `delta_${c}`)],
      rows: rows.map(({ c, ci }) => [c.id, c.site, c.units.join(" "), c.mode, c.label, c.accuracy, c.delta, ...(ci ? ci : []), c.lost, c.gained, c.loss, c.redundancy?.overall ?? null, ...c.perClass, ...c.deltaPerClass]),
    });
  }
  const perClass = new Float64Array(result.conditions.length * k);
  result.conditions.forEach((c, i) => c.perClass.forEach((p, j) => (perClass[i * k + j] = p ?? Number.NaN)));
  files.push({ name: "per_class.npy", kind: "npy", data: perClass, shape: [result.conditions.length, k] });
  files.push({ name: "predictions.npy", kind: "npy", data: result.predictions, shape: [result.n] });
  const total = result.changes.reduce((sum, c) => sum + c.samples.length, 0);
  const changes = new Int32Array(total * 3);
  let at = 0;
  result.changes.forEach((c, i) => {
    for (let j = 0; j < c.samples.length; j++, at += 3) {
      changes[at] = i;
      changes[at + 1] = c.samples[j];
      changes[at + 2] = c.predictions[j];
    }
  });
  files.push({ name: "changes.npy", kind: "npy", data: changes, shape: [total, 3] });
  if (options.confusion) {
    const confusion = new Float64Array(result.conditions.length * k * k);
    result.conditions.forEach((c, i) => confusion.set(c.confusion!.data, i * k * k));
    files.push({ name: "confusion.npy", kind: "npy", data: confusion, shape: [result.conditions.length, k, k] });
  }
  const { changes: _changes, predictions: _predictions, ...rest } = result;
  const summary: AblateSummary = {
    lesion: LESION_VERSION,
    command: "ablate",
    site: options.site,
    mode: options.mode,
    ...rest,
    options: { loss: options.loss, confusion: options.confusion },
    provenance: options.provenance,
    ...(intervals ? { deltaCi: { method: intervals.method, level: intervals.level } } : {}),
    // Confusion matrices live in confusion.npy; the summary keeps one row per condition readable.
    conditions: result.conditions.map(({ confusion: _confusion, ...c }, i) => (intervals ? { ...c, deltaCi: intervals.intervals[i] } : c)),
    files: files.map((f) => f.name),
  };
  return { files, summary };
}
