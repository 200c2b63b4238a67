/**
 * A finished condition of `ablate` as the run keeps it (StoredOutcome) and as its resume log holds it (LoggedOutcome):
 * the log's changed samples and predictions are base64 of their int32 bytes, ~10× faster to write and read back than
 * JSON arrays of numbers; a log that an earlier version wrote (plain arrays) is read too. A record read back is checked
 * (fromLog, intactFromLog): one that fails is computed again, as a line a kill cut short is.
 */
import type { SweepOutcome } from "../engine/sweep/types.js";

/** A finished condition, as the run keeps it. */
export interface StoredOutcome {
  id: string;
  correctPerClass: number[];
  changed: Int32Array;
  changedPredictions: Int32Array;
  lossSum: number | null;
}

/** A finished condition as the resume log holds it: base64 of the int32 bytes (little-endian, as every platform Node runs on), or an earlier version's arrays. */
export interface LoggedOutcome {
  id: string;
  correctPerClass: number[];
  changed: string | number[];
  changedPredictions: string | number[];
  lossSum: number | null;
}

/** The intact network's outcome, the resume log's first record after its header. */
export interface StoredIntact {
  id: string;
  predictions: number[];
  correctPerClass: number[];
  lossSum: number;
}

/** A sweep's outcome of condition `id`, its loss sum rounded to 9 significant digits (null without loss). */
export function stored(id: string, outcome: SweepOutcome, loss: boolean): StoredOutcome {
  return {
    id,
    correctPerClass: outcome.correctPerClass,
    changed: outcome.changed,
    changedPredictions: outcome.changedPredictions,
    // Rounded to float32-level precision, so a resumed run (other batch boundaries) writes the same bytes.
    lossSum: loss && outcome.lossSum !== null ? Number(outcome.lossSum.toPrecision(9)) : null,
  };
}

/** The resume log's record of an outcome. */
export function toLog(outcome: StoredOutcome): LoggedOutcome {
  return { ...outcome, changed: base64Of(outcome.changed), changedPredictions: base64Of(outcome.changedPredictions) };
}

/** What a logged record is checked against: the run's labels and classes, and the logged intact network. */
export interface LogCheck {
  labels: Int32Array;
  k: number;
  loss: boolean;
  intactPredictions: Int32Array;
  intactCorrect: number[];
}

/**
 * The logged intact network, or null where the record is damaged: predictions not one class index per sample,
 * per-class counts not k counts, or no finite loss sum. (Whether its predictions are right is checkAgreement's
 * question, asked of every run.)
 */
export function intactFromLog(record: StoredIntact | undefined, n: number, k: number): StoredIntact | null {
  if (!record || !Array.isArray(record.predictions) || record.predictions.length !== n || !record.predictions.every((p) => isClass(p, k))) return null;
  if (!isCounts(record.correctPerClass, k) || !Number.isFinite(record.lossSum)) return null;
  return record;
}

/**
 * An outcome back from its resume log record (either encoding), or null where the record is damaged: its changed
 * samples and predictions not int32 arrays of one length, the samples not ascending within the data, a prediction not
 * a class other than the intact one, its per-class counts not the intact counts moved by its changes, or its loss sum
 * missing where the run computes the loss.
 */
export function fromLog(record: LoggedOutcome, check: LogCheck): StoredOutcome | null {
  const { labels, k, intactPredictions, intactCorrect } = check;
  const changed = int32sOf(record.changed);
  const changedPredictions = int32sOf(record.changedPredictions);
  if (!changed || !changedPredictions || changed.length !== changedPredictions.length || !isCounts(record.correctPerClass, k)) return null;
  if (check.loss ? !Number.isFinite(record.lossSum) : record.lossSum !== null) return null;
  const correct = intactCorrect.slice();
  for (let i = 0; i < changed.length; i++) {
    const s = changed[i];
    const p = changedPredictions[i];
    if (!(s >= 0 && s < labels.length && (i === 0 || s > changed[i - 1]) && isClass(p, k) && p !== intactPredictions[s])) return null;
    if (intactPredictions[s] === labels[s]) correct[labels[s]]--;
    else if (p === labels[s]) correct[labels[s]]++;
  }
  if (correct.some((c, j) => c !== record.correctPerClass[j])) return null;
  return { ...record, changed, changedPredictions };
}

function isClass(value: unknown, k: number): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) < k;
}

function isCounts(values: unknown, k: number): values is number[] {
  return Array.isArray(values) && values.length === k && values.every((v) => Number.isInteger(v) && v >= 0);
}

function base64Of(values: Int32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("base64");
}

/** The int32 values of a logged array: base64 of their bytes, or an earlier version's array; null where neither. */
function int32sOf(logged: unknown): Int32Array | null {
  if (Array.isArray(logged)) return logged.every((v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) ? Int32Array.from(logged) : null;
  // Buffer.from skips characters that are not base64: the text is checked first.
  if (typeof logged !== "string" || logged.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(logged)) return null;
  const bytes = Buffer.from(logged, "base64");
  if (bytes.length % 4 !== 0) return null;
  // Copied into an array of its own: a Buffer may sit in a shared pool at an offset that is no multiple of 4.
  const values = new Int32Array(bytes.length / 4);
  new Uint8Array(values.buffer).set(bytes);
  return values;
}
